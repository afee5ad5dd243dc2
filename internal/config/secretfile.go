package config

import (
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

// The errors of ReadSecretFile for a file that exists but is not one a
// secret can be read from.
var (
	ErrSecretNotRegular = errors.New("not a regular file")
	ErrSecretTooLarge   = errors.New("too large for a secret file")
)

// ReadSecretFile returns the content of the secret file path, as it is.
// It refuses, naming the file and never quoting its content, what is not a
// regular file (ErrSecretNotRegular: a FIFO, a directory, a device) and a
// file over MaxSecretFileSize bytes (ErrSecretTooLarge). Opening a FIFO
// does not wait for a writer.
func ReadSecretFile(path string) ([]byte, error) {
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
		return nil, fmt.Errorf("%s: %w (%s)", path, ErrSecretNotRegular, fileKind(st.Mode()))
	}
	tooLarge := fmt.Errorf("%s: %w (over %d KiB)", path, ErrSecretTooLarge, MaxSecretFileSize>>10)
	if st.Size() > MaxSecretFileSize {
		return nil, tooLarge
	}
	// Bounded as well: the file may grow after Stat.
	b, err := io.ReadAll(io.LimitReader(f, MaxSecretFileSize+1))
	if err != nil {
		return nil, err // an *fs.PathError
	}
	if len(b) > MaxSecretFileSize {
		return nil, tooLarge
	}
	return b, nil
}

func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "mode " + m.String()
}
