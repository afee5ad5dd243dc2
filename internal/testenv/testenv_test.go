package testenv

import "testing"

// TestSyncBuffer_Records: each JSON line written is one record, in order.
func TestSyncBuffer_Records(t *testing.T) {
	var b SyncBuffer
	if _, err := b.Write([]byte(`{"level":"WARN","msg":"a"}` + "\n" + `{"level":"ERROR","msg":"b"}` + "\n")); err != nil {
		t.Fatal(err)
	}
	got := b.Records(t)
	if len(got) != 2 || got[0]["msg"] != "a" || got[1]["level"] != "ERROR" {
		t.Errorf("Records = %v; want a (WARN), b (ERROR)", got)
	}
}
