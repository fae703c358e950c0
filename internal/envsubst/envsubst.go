// Package envsubst replaces environment references in a configuration
// file's text before it is decoded, so that one sample configuration serves
// any state directory: ${NAME} is the variable's value and
// ${NAME:-default} its value or, when it is unset or empty, default.
//
// # Caveats
//
// Only those two forms are references; a "$" anywhere else (a PIN, a
// password) is kept as it is, and so are comments. A "#" inside a block
// scalar (|, >) is taken for a comment's start: no reference after it on
// that line is replaced. A ${NAME} without a default whose variable is
// unset is an error naming the line, never an empty path. Defaults cannot
// contain "}" or nest references.
package envsubst

import (
	"bytes"
	"fmt"
	"os"
)

// Expand returns data with its references replaced from the environment
// (lookup; nil is os.LookupEnv). YAML comments (from a "#" at the start of
// a line or after white space, outside quotes, to the end of the line) are
// kept as they are, references and all.
func Expand(data []byte, lookup func(string) (string, bool)) ([]byte, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	if !bytes.Contains(data, []byte("${")) {
		return data, nil
	}
	var out bytes.Buffer
	for n, line := range bytes.SplitAfter(data, []byte("\n")) {
		code, comment := splitComment(line)
		expanded, err := expandLine(code, lookup)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n+1, err)
		}
		out.Write(expanded)
		out.Write(comment)
	}
	return out.Bytes(), nil
}

// splitComment cuts a line before its YAML comment.
func splitComment(line []byte) (code, comment []byte) {
	var quote byte
	for i, c := range line {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
			return line[:i], line[i:]
		}
	}
	return line, nil
}

func expandLine(data []byte, lookup func(string) (string, bool)) ([]byte, error) {
	var out bytes.Buffer
	for len(data) > 0 {
		i := bytes.Index(data, []byte("${"))
		if i < 0 {
			out.Write(data)
			break
		}
		out.Write(data[:i])
		rest := data[i+2:]
		end := bytes.IndexByte(rest, '}')
		if end < 0 {
			return nil, fmt.Errorf("%q has no closing }", bytes.TrimRight(data[i:], "\r\n"))
		}
		ref := string(rest[:end])
		name, def, hasDef := cut(ref, ":-")
		if !validName(name) {
			return nil, fmt.Errorf("${%s}: %q is not an environment variable name (letters, digits, _)", ref, name)
		}
		v, ok := lookup(name)
		switch {
		case ok && v != "":
			out.WriteString(v)
		case hasDef:
			out.WriteString(def)
		default:
			return nil, fmt.Errorf("${%s}: the environment variable %s is not set (set it, or give a default: ${%s:-VALUE})", ref, name, name)
		}
		data = rest[end+1:]
	}
	return out.Bytes(), nil
}

func cut(s, sep string) (string, string, bool) {
	for i := 0; i+len(sep) <= len(s); i++ {
		if s[i:i+len(sep)] == sep {
			return s[:i], s[i+len(sep):], true
		}
	}
	return s, "", false
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', 'A' <= r && r <= 'Z', 'a' <= r && r <= 'z':
		case '0' <= r && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
