package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// MaxSecretFileSize bounds a secret file (jwt.hs256_secret_file,
// signing.kek_file…): a secret is at most a few hundred bytes, so a bigger
// file is the wrong path, and is not read into memory.
const MaxSecretFileSize = 64 << 10

// MaxCertFileSize bounds a PEM certificate file (server.tls_cert_file) that
// is read with ReadFileLimit: a certificate is 1 to 3 KiB in PEM, so a
// chain of a few hundred fits, and a wrong path to a big file is not read
// into memory.
const MaxCertFileSize = 1 << 20

// The errors of ReadSecretFile and ReadFileLimit for a file that exists
// but is not one a secret can be read from.
var (
	ErrSecretNotRegular = errors.New("not a regular file")
	ErrSecretTooLarge   = errors.New("too large for a secret file")
	ErrFileTooLarge     = errors.New("file too large")
)

// ReadSecretFile returns the content of the secret file path, as it is.
// It refuses, naming the file and never quoting its content, what is not a
// regular file (ErrSecretNotRegular: a FIFO, a directory, a device) and a
// file over MaxSecretFileSize bytes (ErrSecretTooLarge). Opening a FIFO
// does not wait for a writer.
func ReadSecretFile(path string) ([]byte, error) {
	return readRegular(path, MaxSecretFileSize, ErrSecretTooLarge)
}

// ReadFileLimit is ReadSecretFile for a file of at most limit bytes that
// is not a secret (a certificate chain): over limit it returns
// ErrFileTooLarge.
func ReadFileLimit(path string, limit int64) ([]byte, error) {
	return readRegular(path, limit, ErrFileTooLarge)
}

func readRegular(path string, limit int64, errTooLarge error) ([]byte, error) {
	// O_NONBLOCK: opening a FIFO for reading otherwise waits for a writer,
	// forever if there is none, before the check below can refuse it. It
	// changes nothing for a regular file.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err // an *fs.PathError: names the file
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, NotRegularError(path, st.Mode())
	}
	tooLarge := fmt.Errorf("%s: %w (over %d KiB)", path, errTooLarge, limit>>10)
	if st.Size() > limit {
		return nil, tooLarge
	}
	// Bounded as well: the file may grow after Stat.
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err // an *fs.PathError
	}
	if int64(len(b)) > limit {
		return nil, tooLarge
	}
	return b, nil
}

// NotRegularError is the error, wrapping ErrSecretNotRegular, for a file
// at path of mode m where a regular file was expected: it names the file
// and what it is.
func NotRegularError(path string, m fs.FileMode) error {
	return fmt.Errorf("%s: %w (%s)", path, ErrSecretNotRegular, fileKind(m))
}

// TrimLineEnds is the key a secret file holds, as serve uses it and the
// validator checks it (jwt.hs256_secret_file): its content less the line
// breaks that end it, which editors and echo add. Every other byte, white
// space included, is part of the key: a raw random key may begin or end
// with a space or a tab, and trimming one would change a key already in
// use (and the ring's fingerprint of it).
func TrimLineEnds(b []byte) []byte {
	return bytes.TrimRight(b, "\r\n")
}

func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "mode " + m.String()
}
