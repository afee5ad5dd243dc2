package stream

import (
	"encoding/json"
	"io"
	"strings"
)

// WriteEvent writes one event block. data is encoded as one line of JSON
// (encoding/json never emits a raw newline). The id must be a cursor.
func WriteEvent(w io.Writer, name, id string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	var sb strings.Builder
	sb.Grow(len(b) + len(name) + len(id) + 24)
	sb.WriteString("event: ")
	sb.WriteString(name)
	sb.WriteString("\nid: ")
	sb.WriteString(id)
	sb.WriteString("\ndata: ")
	sb.Write(b)
	sb.WriteString("\n\n")
	_, err = io.WriteString(w, sb.String())
	return err
}

// WriteHeartbeat writes a comment block; with a non-empty cursor it also
// carries `id:`, which moves a client's Last-Event-ID forward while no
// event happens (it dispatches no event: it has no data).
func WriteHeartbeat(w io.Writer, cursor string) error {
	s := ": heartbeat\n"
	if cursor != "" {
		s += "id: " + cursor + "\n"
	}
	_, err := io.WriteString(w, s+"\n")
	return err
}
