package server

import (
	"fmt"
	"os"

	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/jwttoken/signing"
)

// SigningKEKs reads the key-encryption keys of the signing key ring:
// signing.kek_file, else the SESSIOND_KEK variable (read with getenv), as
// the KEK that seals; signing.old_kek_files as KEKs that only open. kek is
// nil when neither is set (the ring is stored in clear). The CLI's key
// commands need the same keys as the server.
func SigningKEKs(cfg config.Config, getenv func(string) string) (kek *signing.KEK, old []*signing.KEK, err error) {
	if f := cfg.Signing.KEKFile; f != "" {
		if kek, err = readKEK(f); err != nil {
			return nil, nil, fmt.Errorf("signing.kek_file: %w", err)
		}
	} else if v := getenv(config.EnvKEK); v != "" {
		if kek, err = signing.ParseKEK([]byte(v)); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", config.EnvKEK, err)
		}
	}
	for i, f := range cfg.Signing.OldKEKFiles {
		k, err := readKEK(f)
		if err != nil {
			return nil, nil, fmt.Errorf("signing.old_kek_files[%d]: %w", i, err)
		}
		old = append(old, k)
	}
	return kek, old, nil
}

func readKEK(path string) (*signing.KEK, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return signing.ParseKEK(b)
}
