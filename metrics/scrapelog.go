package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
)

// promEncode is how promhttp (http.go) starts, as the first value it
// passes to ErrorLog.Println, its report of a failed encode or write of a
// metric family, with the error as the second value.
const promEncode = "error encoding and sending metric family:"

// scrapeLog is promhttp's ErrorLog. A failed write to a scraper that went
// away (its scrape_timeout passed, Prometheus restarted) is its side:
// promhttp reports it once per metric family left, about fifty lines a
// scrape, counts it in promhttp_metric_handler_errors_total
// {cause="encoding"}, and Prometheus records the failed scrape itself; so
// DEBUG, never a line that pages someone. A failed gather or a failed
// encode (a collector's fault), and anything else promhttp may say, is
// ERROR.
type scrapeLog struct{ log *slog.Logger }

func (l scrapeLog) Println(v ...any) {
	level := slog.LevelError
	if scraperGone(v) {
		level = slog.LevelDebug
	}
	l.log.Log(context.Background(), level, "metrics: scrape", "err", strings.TrimSuffix(fmt.Sprintln(v...), "\n"))
}

// scraperGone reports whether promhttp's report v is a write to a
// connection the scraper closed or let time out.
func scraperGone(v []any) bool {
	if len(v) < 2 || v[0] != promEncode {
		return false
	}
	err, ok := v[1].(error)
	if !ok {
		return false
	}
	var netErr net.Error
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, http.ErrHandlerTimeout) || errors.Is(err, context.Canceled) ||
		errors.As(err, &netErr)
}
