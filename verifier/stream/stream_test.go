package stream_test

import (
	"bytes"
	"encoding/base32"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/verifier/stream"
)

func TestDecoder(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		in   string
		want []stream.Block
		err  error // after the blocks
	}{
		{"event", "event: revoked\nid: a\ndata: {}\n\n", []stream.Block{{Name: "revoked", ID: "a", Data: []byte("{}")}}, io.EOF},
		{"CRLF", "event: x\r\ndata: 1\r\n\r\n", []stream.Block{{Name: "x", Data: []byte("1")}}, io.EOF},
		{"multi-line data", "data: a\ndata: b\n\n", []stream.Block{{Data: []byte("a\nb")}}, io.EOF},
		{"no space", "data:a\n\n", []stream.Block{{Data: []byte("a")}}, io.EOF},
		{"heartbeat", ": ping\nid: c\n\n", []stream.Block{{ID: "c", Comment: true}}, io.EOF},
		{"retry ignored", "retry: 10\n: x\n\n", []stream.Block{{Comment: true}}, io.EOF},
		{"blank lines between", "\n\n: a\n\n\n: b\n\n", []stream.Block{{Comment: true}, {Comment: true}}, io.EOF},
		{"empty", "", nil, io.EOF},
		{"cut inside a line", "event: revoked\nda", nil, stream.ErrMalformed},
		{"cut inside a block", "event: revoked\ndata: {}\n", nil, stream.ErrMalformed},
		{"unknown field", "foo: bar\n\n", nil, stream.ErrMalformed},
		{"HTML", "<html>\n\n", nil, stream.ErrMalformed},
		{"not UTF-8", "data: \xff\n\n", nil, stream.ErrMalformed},
		{"U+FFFD is text", "data: \uFFFD\n\n", []stream.Block{{Data: []byte("\uFFFD")}}, io.EOF},
		{"NUL in id", "id: a\x00b\n\n", nil, stream.ErrMalformed},
		{"line too long", "data: " + strings.Repeat("x", stream.MaxLine) + "\n\n", nil, stream.ErrMalformed},
		{"data too large", strings.Repeat("data: "+strings.Repeat("x", 60000)+"\n", 20) + "\n", nil, stream.ErrMalformed},
		{"good then bad", ": ok\n\nnope\n\n", []stream.Block{{Comment: true}}, stream.ErrMalformed},
		// One byte order mark at the very start is ignored (WHATWG), as the
		// Node verifier ignores it; a second, or one later, is text.
		{"BOM at the start", "\ufeffevent: x\ndata: 1\n\n", []stream.Block{{Name: "x", Data: []byte("1")}}, io.EOF},
		{"two BOMs", "\ufeff\ufeffevent: x\n\n", nil, stream.ErrMalformed},
		{"BOM later", ": a\n\n\ufeffevent: x\n\n", []stream.Block{{Comment: true}}, stream.ErrMalformed},
	} {
		d := stream.NewDecoder(strings.NewReader(c.in))
		for i, want := range c.want {
			got, err := d.Next()
			if err != nil || got.Name != want.Name || got.ID != want.ID || !bytes.Equal(got.Data, want.Data) ||
				(got.Data == nil) != (want.Data == nil) || got.Comment != want.Comment {
				t.Errorf("%s: block %d = %+v, %v; want %+v", c.name, i, got, err, want)
			}
		}
		if _, err := d.Next(); !errors.Is(err, c.err) {
			t.Errorf("%s: end = %v; want %v", c.name, err, c.err)
		}
	}
}

func TestWriteEvent_RoundTrip(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	r := stream.Revoked{SessionID: "s\n1", Subject: "a\r\nb", RevokedAt: time.Unix(1, 0).UTC(), Reason: "x", Until: time.Unix(2, 0).UTC()}
	if err := stream.WriteEvent(&buf, stream.EventRevoked, "evt_1", r); err != nil {
		t.Fatal(err)
	}
	if err := stream.WriteHeartbeat(&buf, "evt_2"); err != nil {
		t.Fatal(err)
	}
	d := stream.NewDecoder(&buf)
	b, err := d.Next()
	if err != nil || b.Name != stream.EventRevoked || b.ID != "evt_1" || !strings.Contains(string(b.Data), `"s\n1"`) {
		t.Errorf("event = %+v, %v", b, err)
	}
	if b, err := d.Next(); err != nil || !b.Comment || b.ID != "evt_2" || b.Data != nil {
		t.Errorf("heartbeat = %+v, %v", b, err)
	}
}

func TestParseCursor(t *testing.T) {
	t.Parallel()
	at := time.Date(2030, 1, 2, 3, 4, 5, 678901000, time.UTC)
	c := stream.CursorAt(at)
	for _, in := range []string{c, c + ".2", c + ".1000000"} {
		id, got, err := stream.ParseCursor(in)
		if err != nil || id != c || !got.Equal(at) {
			t.Errorf("ParseCursor(%q) = %q %v %v; want %q %v", in, id, got, err, c, at)
		}
	}
	for _, bad := range []string{"", "evt_", c[:29], c + "0", strings.ToUpper(c), "xyz_" + c[4:], c[:29] + "w", c + ".", c + ".1",
		c + ".0", c + ".01", c + ".-2", c + ".+2", c + ". 2", c + ".2 ", c + ".2.3", c + ".10000000", "evt_vvvvvvvvvvvvvvvvvvvvvvvvvv"} {
		if _, _, err := stream.ParseCursor(bad); !errors.Is(err, stream.ErrBadCursor) {
			t.Errorf("ParseCursor(%q) = %v; want ErrBadCursor", bad, err)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	now := time.Now()
	for name, err := range map[string]error{
		"revoked no id":      stream.Revoked{Until: now}.Validate(),
		"revoked no until":   stream.Revoked{SessionID: "s"}.Validate(),
		"revoked long id":    stream.Revoked{SessionID: strings.Repeat("s", 129), Until: now}.Validate(),
		"watermark neither":  stream.Watermark{IssuedBefore: now}.Validate(),
		"watermark both":     stream.Watermark{All: true, Subject: "a", IssuedBefore: now}.Validate(),
		"watermark no time":  stream.Watermark{All: true}.Validate(),
		"key_retired no kid": stream.KeyRetired{}.Validate(),
	} {
		if err == nil {
			t.Errorf("%s: Validate = nil", name)
		}
	}
	for name, err := range map[string]error{
		"revoked": stream.Revoked{SessionID: "s", Until: now}.Validate(),
		"all":     stream.Watermark{All: true, IssuedBefore: now}.Validate(),
		"subject": stream.Watermark{Subject: "a", IssuedBefore: now}.Validate(),
		"key":     stream.KeyRetired{Kid: "k"}.Validate(),
	} {
		if err != nil {
			t.Errorf("%s: Validate = %v", name, err)
		}
	}
}

// TestDecoder_LineLimit: a line is measured in bytes without its
// terminator (LF or CRLF) and the stream's byte order mark, so MaxLine
// bytes pass and one more is refused whatever ends the line; the Node
// verifier's SSEDecoder is held to the same cases (sdk/node/test/sse.test.mjs).
func TestDecoder_LineLimit(t *testing.T) {
	data := func(n int, c string) string { // a data line of n bytes made of c
		return "data: " + strings.Repeat(c, (n-6)/len(c)) + strings.Repeat("a", (n-6)%len(c))
	}
	for _, c := range []struct {
		name, in string
		ok       bool
	}{
		{"MaxLine, LF", data(stream.MaxLine, "a") + "\n\n", true},
		{"MaxLine, CRLF", data(stream.MaxLine, "a") + "\r\n\r\n", true},
		{"MaxLine after a BOM", "\ufeff" + data(stream.MaxLine, "a") + "\r\n\n", true},
		{"MaxLine+1, LF", data(stream.MaxLine+1, "a") + "\n\n", false},
		{"MaxLine+1, CRLF", data(stream.MaxLine+1, "a") + "\r\n\n", false},
		{"MaxLine in 2-byte characters", data(stream.MaxLine, "é") + "\n\n", true},
		{"MaxLine+1 in 2-byte characters", data(stream.MaxLine+1, "é") + "\n\n", false},
		{"only a BOM", "\ufeff", true},
		{"a BOM and a cut line", "\ufeffdata: x", false},
	} {
		d := stream.NewDecoder(strings.NewReader(c.in))
		var err error
		for err == nil {
			_, err = d.Next()
		}
		if (err == io.EOF) != c.ok {
			t.Errorf("%s: %v; want accepted %v", c.name, err, c.ok)
		}
	}
}

// FuzzDecoder: any input ends in blocks then EOF or ErrMalformed (or the
// reader's own error), never a panic, and no block breaks the limits.
func FuzzDecoder(f *testing.F) {
	f.Add([]byte("event: revoked\nid: evt_1\ndata: {}\n\n"))
	f.Add([]byte(": heartbeat\nid: evt_1\n\n"))
	f.Add([]byte("data: a\r\ndata: b\r\n\r\n"))
	f.Add([]byte("<html>\n\n"))
	f.Add([]byte("event: revoked\nda"))
	f.Fuzz(func(t *testing.T, in []byte) {
		d := stream.NewDecoder(bytes.NewReader(in))
		for range len(in) + 1 {
			b, err := d.Next()
			if err != nil {
				if err != io.EOF && !errors.Is(err, stream.ErrMalformed) {
					t.Fatalf("Next = %v; want EOF or ErrMalformed", err)
				}
				return
			}
			if len(b.Data) > stream.MaxData || len(b.ID) > stream.MaxLine || len(b.Name) > stream.MaxLine {
				t.Fatalf("block over the limits: %d %d %d", len(b.Data), len(b.ID), len(b.Name))
			}
		}
		t.Fatal("more blocks than input bytes")
	})
}

// FuzzParseCursor: a cursor that parses is re-made exactly by CursorAt
// from its time (when it has zero random bits) and never panics.
func FuzzParseCursor(f *testing.F) {
	f.Add(stream.CursorAt(time.Now()))
	f.Add(stream.CursorAt(time.Now()) + ".2")
	f.Add("evt_00363echpdok7iur29n13uses0")
	f.Fuzz(func(t *testing.T, in string) {
		id, at, err := stream.ParseCursor(in)
		if err != nil {
			return
		}
		if !strings.HasPrefix(in, id) || len(id) != 30 {
			t.Fatalf("ParseCursor(%q) id = %q", in, id)
		}
		if _, at2, err := stream.ParseCursor(stream.CursorAt(at)); err != nil || !at2.Equal(at) {
			t.Fatalf("CursorAt(%v) does not parse back: %v %v", at, at2, err)
		}
		// One spelling: the ID is its 16 bytes written again, and with no
		// random bits it is CursorAt's.
		enc := base32.HexEncoding.WithPadding(base32.NoPadding)
		b, err := enc.DecodeString(strings.ToUpper(id[4:]))
		if err != nil || "evt_"+strings.ToLower(enc.EncodeToString(b)) != id {
			t.Fatalf("ParseCursor(%q) accepted a second spelling of %x", in, b)
		}
		if bytes.Equal(b[8:], make([]byte, 8)) && stream.CursorAt(at) != id {
			t.Fatalf("ParseCursor(%q) = %v, but CursorAt writes %q", in, at, stream.CursorAt(at))
		}
	})
}

// TestParseCursor_TimeBound: the cursors at and past 2^62 µs that the
// Node verifier's isCursor (sdk/node/test/sse.test.mjs) is held to as
// well, so the two accept the same cursors.
func TestParseCursor_TimeBound(t *testing.T) {
	for _, c := range []struct {
		cursor string
		ok     bool
	}{
		{"evt_8" + strings.Repeat("0", 25), true},
		{"evt_g" + strings.Repeat("0", 25), false},
		{"evt_" + strings.Repeat("v", 26), false},
	} {
		if _, _, err := stream.ParseCursor(c.cursor); (err == nil) != c.ok {
			t.Errorf("ParseCursor(%q) = %v; want accepted %v", c.cursor, err, c.ok)
		}
	}
}
