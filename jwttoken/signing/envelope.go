package signing

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

// KEKSize is the size of a key-encryption key: AES-256.
const KEKSize = 32

// KEK is a key-encryption key. The key ring is envelope-encrypted: each
// stored version gets a fresh random data key that seals the document with
// AES-256-GCM, and the KEK seals (wraps) the data key, also with
// AES-256-GCM. Reading the store, or a backup of it, without the KEK no
// longer reveals a signing key.
type KEK struct {
	// ID names the KEK in the stored document (a hash of the key, which
	// reveals nothing of it), so a node holding several KEKs knows which
	// one opens it.
	ID string
	// key is behind a pointer so that printing a KEK (%v, %+v, a slog
	// attribute) shows an address, never the key.
	key *[KEKSize]byte
}

// ParseKEK reads a KEK written as base64 (standard or URL alphabet,
// padded or not) of exactly 32 random bytes, e.g. the output of
// `openssl rand -base64 32`. Surrounding whitespace is ignored.
func ParseKEK(text []byte) (*KEK, error) {
	s := strings.TrimSpace(string(text))
	var raw []byte
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			raw = b
			break
		}
	}
	if raw == nil {
		return nil, fmt.Errorf("signing: key-encryption key is not base64")
	}
	if len(raw) != KEKSize {
		return nil, fmt.Errorf("signing: key-encryption key is %d bytes; want %d (openssl rand -base64 32)", len(raw), KEKSize)
	}
	sum := sha256.Sum256(append([]byte("sessiond kek id\x00"), raw...))
	return &KEK{ID: hex.EncodeToString(sum[:8]), key: (*[KEKSize]byte)(raw)}, nil
}

// DeriveKey returns a 32-byte key for label, drawn from k by HKDF-SHA256
// (RFC 5869, label as its info), for another use than sealing (a keyed
// fingerprint that whoever holds the store alone cannot test guesses
// against). Distinct labels give independent keys; a KEK not made by
// ParseKEK has none.
func (k *KEK) DeriveKey(label string) ([]byte, error) {
	if k == nil || k.key == nil {
		return nil, fmt.Errorf("signing: key-encryption key was not made by ParseKEK")
	}
	return hkdf.Key(sha256.New, k.key[:], nil, "sessiond kek derive: "+label, 32)
}

// aead is k's AES-256-GCM; a KEK not made by ParseKEK has no key.
func (k *KEK) aead() (cipher.AEAD, error) {
	if k.key == nil {
		return nil, fmt.Errorf("signing: key-encryption key %q was not made by ParseKEK", k.ID)
	}
	return gcm(k.key[:])
}

// sealed is an envelope-encrypted payload.
type sealed struct {
	KEK  string `json:"kek"`  // ID of the KEK that wraps DEK
	DEK  []byte `json:"dek"`  // the data key, sealed with the KEK
	Data []byte `json:"data"` // the payload, sealed with the data key
}

// The additional data binds each ciphertext to its document, its role and
// the KEK, so a wrapped data key cannot be passed off as a payload or moved
// to another document.
func aad(doc, role, kek string) []byte { return []byte("sessiond " + doc + " " + role + " " + kek) }

func gcm(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	// A random 96-bit nonce per message: each data key seals one message,
	// and the KEK seals one data key per stored version.
	return cipher.NewGCMWithRandomNonce(block)
}

func (k *KEK) seal(doc string, plain []byte) (*sealed, error) {
	dek := make([]byte, 32)
	if _, err := rand.Read(dek); err != nil {
		return nil, fmt.Errorf("signing: data key: %w", err)
	}
	dataAEAD, err := gcm(dek)
	if err != nil {
		return nil, fmt.Errorf("signing: seal: %w", err)
	}
	kekAEAD, err := k.aead()
	if err != nil {
		return nil, fmt.Errorf("signing: seal: %w", err)
	}
	return &sealed{
		KEK:  k.ID,
		DEK:  kekAEAD.Seal(nil, nil, dek, aad(doc, "dek", k.ID)),
		Data: dataAEAD.Seal(nil, nil, plain, aad(doc, "data", k.ID)),
	}, nil
}

// open unseals the key ring s with whichever configured KEK it names.
func (o *Options) open(s *sealed) ([]byte, error) {
	return openSealed(DocName, s, append([]*KEK{o.KEK}, o.OldKEKs...))
}

// openSealed unseals s, sealed for the meta document doc, with whichever
// of keks it names.
func openSealed(doc string, s *sealed, keks []*KEK) ([]byte, error) {
	var k *KEK
	for _, c := range keks {
		if c != nil && c.ID == s.KEK {
			k = c
			break
		}
	}
	if k == nil {
		return nil, fmt.Errorf("%w (it was sealed with key-encryption key %s)", ErrKEKRequired, s.KEK)
	}
	kekAEAD, err := k.aead()
	if err != nil {
		return nil, fmt.Errorf("signing: open: %w", err)
	}
	dek, err := kekAEAD.Open(nil, nil, s.DEK, aad(doc, "dek", k.ID))
	if err != nil {
		return nil, fmt.Errorf("signing: open the data key with key-encryption key %s: %w", k.ID, err)
	}
	dataAEAD, err := gcm(dek)
	if err != nil {
		return nil, fmt.Errorf("signing: open: %w", err)
	}
	plain, err := dataAEAD.Open(nil, nil, s.Data, aad(doc, "data", k.ID))
	if err != nil {
		return nil, fmt.Errorf("signing: open %s: %w", doc, err)
	}
	return plain, nil
}

// SealDocument envelope-encrypts plain, the content of the meta document
// named doc, as the key ring is (a fresh data key under AES-256-GCM,
// wrapped by k), for other secrets the server keeps in the store. The
// result is JSON; OpenDocument with the same doc name reverses it.
func (k *KEK) SealDocument(doc string, plain []byte) ([]byte, error) {
	s, err := k.seal(doc, plain)
	if err != nil {
		return nil, err
	}
	return json.Marshal(s)
}

// OpenDocument reverses SealDocument for the document doc with whichever
// of keks (nil entries skipped) sealed it, and returns that KEK's ID. It
// fails with an error matching ErrKEKRequired when none of them did, and
// with another error when data is not a sealed document, was sealed for
// another document, or was altered.
func OpenDocument(doc string, data []byte, keks ...*KEK) (plain []byte, kekID string, err error) {
	var s sealed
	if err := json.Unmarshal(data, &s); err != nil || s.KEK == "" {
		return nil, "", fmt.Errorf("signing: %s is not a sealed document", doc)
	}
	plain, err = openSealed(doc, &s, keks)
	return plain, s.KEK, err
}
