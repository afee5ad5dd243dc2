package config

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// EnvPrefix starts every environment variable sessiond reads.
const EnvPrefix = "SESSIOND_"

// Secrets read from the environment by the server, never config keys.
const (
	EnvAPIKey      = "SESSIOND_API_KEY"
	EnvHS256Secret = "SESSIOND_JWT_HS256_SECRET"
	// EnvKEK holds the signing key ring's key-encryption key (base64), the
	// alternative to signing.kek_file.
	EnvKEK = "SESSIOND_KEK"
)

// envShort are the short forms kept for convenience. The long form wins
// when both are set.
var envShort = map[string]string{
	"SESSIOND_LISTEN": "server.listen",
	"SESSIOND_DATA":   "server.data_dir",
}

// envNotEmpty are the keys naming a store or the TLS pair, whose empty
// value in the file means a default place or none. Given empty in the
// environment they are refused, not applied: that is how a script's unset
// variable reads (SESSIOND_STORE_NAMESPACE="$NS"), and it would move serve,
// migrate and keys from the file's store to another (the public schema,
// the sd prefix, a new <data_dir>/sessiond.db) or the listener to plain
// HTTP. server.data_dir, never valid empty, is SD-SERVER-009's.
var envNotEmpty = map[string]bool{
	"store.dsn":            true,
	"store.namespace":      true,
	"server.tls_cert_file": true,
	"server.tls_key_file":  true,
}

// EnvName returns the environment variable that overrides a dotted key
// path: SESSIOND_ plus the path upper-cased with dots as underscores. Keys
// inside lists (webhooks[].url) have none and return "".
func EnvName(path string) string {
	if strings.Contains(path, "[]") {
		return ""
	}
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

// envPaths maps each variable name to its key path.
func envPaths() map[string]string {
	m := map[string]string{}
	for _, k := range Keys() {
		if n := EnvName(k); n != "" {
			m[n] = k
		}
	}
	return m
}

// ApplyEnv overrides keys of cfg from environ (os.Environ() form): any
// scalar key as SESSIOND_<PATH> (SESSIOND_COOKIE_SECURE=false), lists of
// strings as comma-separated values, plus SESSIOND_LISTEN and
// SESSIOND_DATA for server.listen and server.data_dir. A variable given
// empty sets its key as a key written with no value does, except the
// keys of envNotEmpty, for which it is an error. The secrets
// SESSIOND_API_KEY and SESSIOND_JWT_HS256_SECRET are not config keys and
// are skipped.
//
// Every bad value is reported, as a *FieldError whose Path is the variable
// name, joined with errors.Join; good values are applied regardless. A
// SESSIOND_ variable that looks like a mistyped key (it starts with a
// section name such as SESSIOND_COOKIE_, or is one edit away from a known
// name) is an error too, since silently ignoring SESSIOND_COOKIE_SECUR=false
// would hide a setting the operator believes is applied. Other SESSIOND_
// variables are left alone for the tools that read them.
func ApplyEnv(cfg *Config, environ []string) error {
	paths := envPaths()
	var short, long [][2]string
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		// The prefix in any case: SESSIOND_lifetimes_absolute or
		// sessiond_cookie_secure is a key written in the wrong case, which
		// the environment keeps apart and unknownEnv names.
		if !ok || !hasPrefixFold(name, EnvPrefix) || name == EnvAPIKey || name == EnvHS256Secret || name == EnvKEK || isPollAuthorization(name) {
			continue
		}
		if _, ok := envShort[name]; ok {
			short = append(short, [2]string{name, val})
		} else {
			long = append(long, [2]string{name, val})
		}
	}
	var errs []error
	for _, kv := range append(short, long...) {
		name, val := kv[0], kv[1]
		path, ok := paths[name]
		if !ok {
			path, ok = envShort[name]
		}
		if !ok {
			if msg := unknownEnv(name, paths); msg != "" {
				errs = append(errs, &FieldError{Path: name, Msg: msg, unknown: true})
			}
			continue
		}
		if val == "" && envNotEmpty[path] {
			errs = append(errs, &FieldError{Path: name, Msg: path + " given empty: unset the variable to keep the file's value (or the default)"})
			continue
		}
		if err := setPath(cfg, path, val); err != nil {
			errs = append(errs, &FieldError{Path: name, Msg: fmt.Sprintf("%s: %v", path, err)})
		}
	}
	return errors.Join(errs...)
}

func unknownEnv(name string, paths map[string]string) string {
	names := make([]string, 0, len(paths)+len(envShort))
	for n := range paths {
		names = append(names, n)
	}
	for n := range envShort {
		names = append(names, n)
	}
	// The secrets are read elsewhere, but a mistyped one is the costliest
	// to miss: SESSIOND_API_KY would start a server without the operator's
	// key.
	names = append(names, EnvAPIKey, EnvHS256Secret, EnvKEK)
	// Compared upper-cased: the variables are, and a name written in
	// another case is a mistake to point out, not another tool's variable.
	upper := strings.ToUpper(name)
	best, bestDist := "", 0
	for _, n := range names {
		d := levenshtein(upper, n)
		if best == "" || d < bestDist || d == bestDist && n < best {
			best, bestDist = n, d
		}
	}
	if bestDist == 0 {
		return fmt.Sprintf("unknown variable (did you mean %s? variable names are upper case)", best)
	}
	if bestDist <= 2 {
		return fmt.Sprintf("unknown variable (did you mean %s?)", best)
	}
	rest := strings.TrimPrefix(upper, EnvPrefix)
	if strings.HasPrefix(rest, "WEBHOOKS_") {
		return "webhooks cannot be set from the environment; use the config file"
	}
	for _, f := range reflect.VisibleFields(reflect.TypeFor[Config]()) {
		if f.Type.Kind() != reflect.Struct || f.Type == durationType {
			continue
		}
		if strings.HasPrefix(rest, strings.ToUpper(yamlName(f))+"_") {
			return "unknown variable: no such key in " + yamlName(f)
		}
	}
	return ""
}

// setPath parses s into the key at the dotted path.
func setPath(cfg *Config, path string, s string) error {
	v := reflect.ValueOf(cfg).Elem()
	for _, seg := range strings.Split(path, ".") {
		t := v.Type()
		found := false
		for i := range t.NumField() {
			if yamlName(t.Field(i)) == seg {
				v = v.Field(i)
				found = true
				break
			}
		}
		if !found {
			// Unreachable: paths come from Keys.
			return fmt.Errorf("no such key")
		}
	}
	return setString(v, s)
}

func setString(v reflect.Value, s string) error {
	t := v.Type()
	switch {
	case t == durationType:
		d, err := ParseDuration(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
	case t.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("expected true or false, got %q", s)
		}
		v.SetBool(b)
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		i, err := strconv.ParseInt(strings.TrimSpace(s), 10, t.Bits())
		if err != nil {
			return fmt.Errorf("expected an integer, got %q", s)
		}
		v.SetInt(i)
	case t.Kind() == reflect.String:
		v.SetString(s)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		items := []string{}
		for item := range strings.SplitSeq(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, item)
			}
		}
		out := reflect.MakeSlice(t, len(items), len(items))
		for i, item := range items {
			out.Index(i).SetString(item)
		}
		v.Set(out)
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}

// isPollAuthorization: SESSIOND_SSF_<NAME>_POLL_AUTHORIZATION, a Shared
// Signals receiver's poll credential, read by the server itself (like the
// API key and the KEK) rather than a key of the file.
func isPollAuthorization(name string) bool {
	rest, ok := strings.CutPrefix(name, EnvPrefix+"SSF_")
	return ok && len(rest) > len("_POLL_AUTHORIZATION") && strings.HasSuffix(rest, "_POLL_AUTHORIZATION")
}
