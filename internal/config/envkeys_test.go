package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestApplyEnv_EveryKey: every key docs/configuration.md gives a variable
// (all but those inside lists of mappings) is set by that variable to a
// value other than its default.
func TestApplyEnv_EveryKey(t *testing.T) {
	for _, k := range Keys() {
		name := EnvName(k)
		if name == "" {
			continue
		}
		t.Run(k, func(t *testing.T) {
			cfg := Default()
			f, ok := fieldAt(reflect.ValueOf(&cfg).Elem(), k)
			if !ok {
				t.Fatalf("no field at %s", k)
			}
			var val string
			var set func() bool
			switch {
			case f.Type() == durationType:
				val, set = "7m", func() bool { return f.Int() == int64(7*time.Minute) }
			case f.Kind() == reflect.Bool:
				want := !f.Bool()
				val, set = "false", func() bool { return f.Bool() == want }
				if want {
					val = "true"
				}
			case f.Kind() >= reflect.Int && f.Kind() <= reflect.Int64:
				val, set = "7", func() bool { return f.Int() == 7 }
			case f.Kind() == reflect.String:
				val, set = "zz-"+k, func() bool { return f.String() == "zz-"+k }
			case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
				val, set = "a, b", func() bool { return slices.Equal(f.Interface().([]string), []string{"a", "b"}) }
			default:
				t.Fatalf("key %s of type %s", k, f.Type())
			}
			if err := ApplyEnv(&cfg, []string{name + "=" + val}); err != nil {
				t.Fatalf("ApplyEnv(%s=%s) = %v", name, val, err)
			}
			if !set() {
				t.Errorf("%s=%s left %s at %v", name, val, k, f.Interface())
			}
		})
	}
}

// fieldAt is the field at a dotted key path of v (a Config).
func fieldAt(v reflect.Value, path string) (reflect.Value, bool) {
	for _, seg := range strings.Split(path, ".") {
		t := v.Type()
		found := false
		for i := range t.NumField() {
			if yamlName(t.Field(i)) == seg {
				v, found = v.Field(i), true
				break
			}
		}
		if !found {
			return v, false
		}
	}
	return v, true
}
