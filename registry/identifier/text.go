package identifier

// Text encodings, so identifiers are plain strings in JSON and YAML.

// MarshalText returns the string form.
func (c Client) MarshalText() ([]byte, error) { return []byte(c.String()), c.Validate() }

// UnmarshalText parses the string form.
func (c *Client) UnmarshalText(b []byte) error {
	v, err := ParseClient(string(b))
	if err == nil {
		*c = v
	}
	return err
}

// MarshalText returns the string form.
func (s ServiceID) MarshalText() ([]byte, error) { return []byte(s.String()), s.Validate() }

// UnmarshalText parses the string form.
func (s *ServiceID) UnmarshalText(b []byte) error {
	v, err := ParseService(string(b))
	if err == nil {
		*s = v
	}
	return err
}

// MarshalText returns the string form.
func (s ServerID) MarshalText() ([]byte, error) { return []byte(s.String()), s.Validate() }

// UnmarshalText parses the string form.
func (s *ServerID) UnmarshalText(b []byte) error {
	v, err := ParseServer(string(b))
	if err == nil {
		*s = v
	}
	return err
}

// MarshalText returns the string form.
func (g GlobalGroupID) MarshalText() ([]byte, error) { return []byte(g.String()), g.Validate() }

// UnmarshalText parses the string form.
func (g *GlobalGroupID) UnmarshalText(b []byte) error {
	v, err := ParseGlobalGroup(string(b))
	if err == nil {
		*g = v
	}
	return err
}
