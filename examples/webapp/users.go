package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// argon2id parameters: the OWASP Password Storage Cheat Sheet's first
// recommendation (m=19 MiB, t=2, p=1).
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

var b64 = base64.RawStdEncoding

// hashPassword returns a PHC-format argon2id hash of password with a fresh
// random salt.
func hashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// checkPassword reports whether password matches the PHC-format hash.
func checkPassword(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errors.New("not an argon2id hash")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errors.New("unsupported argon2 version")
	}
	var mem, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &t, &p); err != nil {
		return false, errors.New("bad argon2 parameters")
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, errors.New("bad salt")
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil {
		return false, errors.New("bad key")
	}
	got := argon2.IDKey([]byte(password), salt, t, mem, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// users is the demo's user table: name → argon2id hash.
type users struct {
	hashes map[string]string
	dummy  string // checked for unknown names, so timing does not tell who exists
	limits *loginLimits
	// checks bounds the password checks running at once: each argon2id
	// check takes 19 MiB, and a burst of sign-ins must not take them all.
	checks chan struct{}
}

const maxConcurrentChecks = 4

// newUsers hashes the demo passwords at start; nothing in plain text is kept.
func newUsers(plain map[string]string) (*users, error) {
	u := &users{hashes: make(map[string]string, len(plain)), limits: newLoginLimits(), checks: make(chan struct{}, maxConcurrentChecks)}
	for name, pw := range plain {
		h, err := hashPassword(pw)
		if err != nil {
			return nil, err
		}
		u.hashes[name] = h
	}
	var err error
	u.dummy, err = hashPassword("no user has this password")
	return u, err
}

// authenticate reports whether name and password match a user; false too
// when ctx ends while it waits for its turn.
func (u *users) authenticate(ctx context.Context, name, password string) bool {
	select {
	case u.checks <- struct{}{}:
		defer func() { <-u.checks }()
	case <-ctx.Done():
		return false
	}
	h, ok := u.hashes[name]
	if !ok {
		h = u.dummy
	}
	match, err := checkPassword(h, password)
	return ok && match && err == nil
}
