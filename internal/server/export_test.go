package server

import (
	"log/slog"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/config"
)

// ManagerOptions exposes managerOptions to the external tests.
func ManagerOptions(cfg config.Config) sessiond.Options {
	life, err := cfg.Lifetimes()
	if err != nil {
		panic(err)
	}
	return managerOptions(cfg, life, nil, 0, slog.New(slog.DiscardHandler))
}

// ClientIP exposes the gateway's reading of the browser's address.
var ClientIP = clientIP
