package securityserver

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluz/sluz/securityserver/config"
)

// FileConsoleKey (in dataDir) is the secret that signs the web console's
// one-time sign-in links. Whoever can read it administers the server, as
// whoever can write acl.db does: `securityserver console-link` reads it.
const FileConsoleKey = "console.key"

// ConsoleLinkTTL is how long a sign-in link stays valid.
const ConsoleLinkTTL = 2 * time.Minute

// consoleKey reads dataDir/console.key, creating it on first use.
func consoleKey(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, FileConsoleKey)
	for range 2 {
		key, err := os.ReadFile(path)
		if err == nil {
			if len(key) < 32 {
				return nil, fmt.Errorf("console key %s is shorter than 32 bytes: delete it and it is made again", path)
			}
			return key, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("console key: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue // made meanwhile by the server or another command
		}
		if err != nil {
			return nil, fmt.Errorf("console key: %w", err)
		}
		key = make([]byte, 32)
		rand.Read(key)
		if _, err := f.Write(key); err != nil {
			f.Close()
			return nil, fmt.Errorf("console key: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("console key: %w", err)
		}
		return key, nil
	}
	return nil, fmt.Errorf("console key %s: could not read or create it", path)
}

type linkClaims struct {
	Actor   string `json:"actor"`
	Expires int64  `json:"exp"`
	Nonce   string `json:"nonce"`
}

// ConsoleLink returns a one-time link that signs a browser in to the
// server's web console as actor (an administrator's name, recorded with
// each change), valid for ConsoleLinkTTL.
func ConsoleLink(cfg *config.Config, actor string, now time.Time) (string, error) {
	if cfg.Admin.Listen == "" {
		return "", errors.New("admin.listen is empty: the web console is served on the admin listener; set it (e.g. 127.0.0.1:9090)")
	}
	key, err := consoleKey(cfg.DataDir)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, 16)
	rand.Read(nonce)
	claims, _ := json.Marshal(linkClaims{Actor: actor, Expires: now.Add(ConsoleLinkTTL).Unix(), Nonce: base64.RawURLEncoding.EncodeToString(nonce)})
	payload := base64.RawURLEncoding.EncodeToString(claims)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(payload))
	tok := payload + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	u := url.URL{Scheme: "http", Host: cfg.Admin.Listen, Path: consolePrefix + "/login", RawQuery: url.Values{"token": {tok}}.Encode()}
	return u.String(), nil
}

// verifyConsoleToken checks a link's token against key.
func verifyConsoleToken(key []byte, tok string) (string, time.Time, error) {
	payload, sig, ok := strings.Cut(tok, ".")
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if !ok || err != nil {
		return "", time.Time{}, errors.New("malformed sign-in token")
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(payload))
	if !hmac.Equal(got, mac.Sum(nil)) {
		return "", time.Time{}, errors.New("the sign-in token is not signed with this server's console key")
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	var c linkClaims
	if err != nil || json.Unmarshal(raw, &c) != nil || c.Actor == "" {
		return "", time.Time{}, errors.New("malformed sign-in token")
	}
	return c.Actor, time.Unix(c.Expires, 0), nil
}
