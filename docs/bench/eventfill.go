//go:build ignore

// Eventfill fills a store's event log, through the store package, with an
// incident's worth of the event types the console's overview charts,
// spread over the last 23 hours, in turn: logins, refreshes, revocations,
// bulk revocations (one in 70 of them a kill switch, without subject),
// reuse detections, anomalies, unknown tokens. docs/bench/console-overview.sh
// and docs/PERFORMANCE.md, "The console's overview during an incident",
// use it.
//
//	go run docs/bench/eventfill.go -driver sqlite -dsn /tmp/ov/sessiond.db -n 140000
//	go run docs/bench/eventfill.go -driver postgres -dsn "$PG" -ns ov -n 140000
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/pgstore"
	"github.com/sessiond/sessiond/redisstore"
	"github.com/sessiond/sessiond/sqlitestore"
)

func main() {
	driver := flag.String("driver", "sqlite", "sqlite|postgres|redis")
	dsn := flag.String("dsn", "", "path or DSN")
	ns := flag.String("ns", "", "schema or prefix")
	n := flag.Int("n", 140000, "events")
	flag.Parse()
	ctx := context.Background()
	var l sessiond.EventLog
	switch *driver {
	case "sqlite":
		s, err := sqlitestore.New(ctx, *dsn, sqlitestore.Options{})
		if err != nil {
			log.Fatal(err)
		}
		defer s.Close()
		l = s
	case "postgres":
		s, err := pgstore.New(ctx, *dsn, pgstore.Options{Schema: *ns})
		if err != nil {
			log.Fatal(err)
		}
		defer s.Close()
		l = s
	case "redis":
		s, err := redisstore.New(ctx, *dsn, redisstore.Options{Prefix: *ns})
		if err != nil {
			log.Fatal(err)
		}
		defer s.Close()
		l = s
	}
	types := []sessiond.EventType{sessiond.EventSessionCreated, sessiond.EventSessionRefreshed, sessiond.EventSessionRevoked,
		sessiond.EventBulkRevoked, sessiond.EventRefreshReused, sessiond.EventAnomaly, sessiond.EventUnknownToken}
	now := time.Now()
	batch := make([]sessiond.Event, 0, 500)
	for i := 0; i < *n; i++ {
		t := now.Add(-time.Duration(int64(i) * int64(23*time.Hour) / int64(*n)))
		typ := types[i%len(types)]
		e := sessiond.Event{ID: sessiond.NewEventID(t), Time: t, Type: typ, Subject: fmt.Sprintf("user%d", i%5000),
			SessionID: sessiond.SessionID(fmt.Sprintf("sess%d", i)), Client: sessiond.Client{IP: "203.0.113.7", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Chrome/131"},
			Details: map[string]any{"reason": "reuse", "count": 3}}
		if typ == sessiond.EventBulkRevoked && i%70 == 3 {
			e.Subject = "" // a kill switch now and then
		}
		batch = append(batch, e)
		if len(batch) == cap(batch) {
			if err := l.AppendEvents(ctx, batch...); err != nil {
				log.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		if err := l.AppendEvents(ctx, batch...); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("appended", *n)
}
