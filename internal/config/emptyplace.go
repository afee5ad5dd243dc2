package config

import (
	"errors"
	"fmt"
)

// ErrEmptyDataDir: server.data_dir is empty, the process's working
// directory (SD-SERVER-009). serve, whether or not it runs with
// --insecure-dev, and the commands that open the store themselves refuse
// it: they would start on, or act on, a new store wherever they were
// started rather than the deployment's.
var ErrEmptyDataDir = errors.New("server.data_dir is empty (SD-SERVER-009): the data directory would be the working directory")

// CheckDataDir returns an error wrapping ErrEmptyDataDir when cfg's data
// directory is empty, naming what may have emptied it.
func CheckDataDir(cfg Config) error {
	if cfg.Server.DataDir != "" {
		return nil
	}
	return fmt.Errorf("%w; set server.data_dir (or --data), or unset SESSIOND_DATA and SESSIOND_SERVER_DATA_DIR if a script gave them empty", ErrEmptyDataDir)
}
