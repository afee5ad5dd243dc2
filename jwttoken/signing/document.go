package signing

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// formatVersion is the version of the stored document. Version-1 documents
// (before it existed) are a bare jwttoken ring: they are read, and
// rewritten in this format on the next write.
const formatVersion = 2

// ErrKEKRequired: the stored key ring is encrypted and no key-encryption
// key given can open it.
var ErrKEKRequired = errors.New("signing: the stored key ring is encrypted and no configured key-encryption key opens it")

// ErrRingUnreadable: a running node read the stored key ring and could
// not open or decode it (Keys.Ready), most often because it is sealed with
// a KEK this node is not given (the error then matches ErrKEKRequired too).
// The node still holds the keys it read before, but misses every change
// made since: a rotation, the kill switch dropping a key. It verifies with
// them and signs nothing meanwhile (Keys.Ring: jwttoken.KeyRing.HoldSigning).
var ErrRingUnreadable = errors.New("signing: this node cannot read the stored key ring: it misses every rotation and kill switch made since, verifying with the keys it read before and signing nothing")

// ErrSecretDiffers: the configured HS256 secret is not the one the stored
// key ring was made from (Load; Open replaces the ring instead).
var ErrSecretDiffers = errors.New("signing: the configured HS256 secret is not the one the stored key ring was made from")

// ErrSecretSuperseded: the configured HS256 secret was replaced in the
// store by a newer one, so this node's configuration is out of date.
var ErrSecretSuperseded = errors.New("signing: the configured HS256 secret was replaced by a newer one")

// stored is the meta document: the payload, either in clear (no KEK
// configured) or sealed.
type stored struct {
	Format  int             `json:"format"`
	Payload json.RawMessage `json:"payload,omitempty"`
	Sealed  *sealed         `json:"sealed,omitempty"`
}

// payload is what the document protects.
type payload struct {
	// Ring is the jwttoken MarshalPrivate document.
	Ring json.RawMessage `json:"ring"`
	// HS256Secret is the fingerprint of the configured HS256 secret the
	// ring was seeded from; HS256Superseded those it replaced. See
	// checkSecret.
	HS256Secret     string   `json:"hs256_secret,omitempty"`
	HS256Superseded []string `json:"hs256_superseded,omitempty"`

	// Lineage names the ring from the write that made it (a first start,
	// or the first write by this release), Generation counts the writes
	// since: an older copy of the ring a node holds (the store rolled back)
	// has its lineage and a lower generation, a ring made anew after the
	// store lost its data another lineage (see Keys.restore). Dropped maps
	// the kids of keys dropped on purpose (RetireAll, Prune, a replaced
	// HS256 ring) to when a token they signed has surely expired: until
	// then no merge or adoption takes them back.
	//
	// These fields are in the payload, which every release decodes
	// leniently (unknown fields ignored), and never in the stored
	// envelope or the ring document, which are decoded strictly: a node
	// of the previous release reads a document with them, and drops them
	// when it writes; a document without them reads as one of an unknown
	// lineage with nothing dropped.
	//
	// LineageAdopted marks a lineage made up by a node that wrote over a
	// stored ring without one and held none (see Keys.save): the ring
	// existed before it, so a node holding another lineage of a lower
	// version takes it for this ring under a new name, not for a ring
	// made anew.
	Lineage        string               `json:"lineage,omitempty"`
	LineageAdopted bool                 `json:"lineage_adopted,omitempty"`
	Generation     uint64               `json:"generation,omitempty"`
	Dropped        map[string]time.Time `json:"dropped,omitempty"`
}

// decoded is a stored document opened.
type decoded struct {
	payload
	// kek is the ID of the KEK the document was sealed with; "" in clear.
	kek string
	// legacy marks a version-1 document.
	legacy bool
}

// decode opens a stored document with the configured KEKs.
func (o *Options) decode(doc []byte) (decoded, error) {
	var probe struct {
		Format int `json:"format"`
	}
	if err := json.Unmarshal(doc, &probe); err != nil {
		return decoded{}, fmt.Errorf("signing: stored key ring: %w", err)
	}
	switch probe.Format {
	case 0: // version 1: the ring itself
		return decoded{payload: payload{Ring: bytes.Clone(doc)}, legacy: true}, nil
	case formatVersion:
	default:
		return decoded{}, fmt.Errorf("signing: stored key ring: unsupported format %d", probe.Format)
	}
	var s stored
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return decoded{}, fmt.Errorf("signing: stored key ring: %w", err)
	}
	var d decoded
	plain := []byte(s.Payload)
	switch {
	case s.Sealed != nil && s.Payload == nil:
		var err error
		if plain, err = o.open(s.Sealed); err != nil {
			return decoded{}, err
		}
		d.kek = s.Sealed.KEK
	case s.Sealed == nil && s.Payload != nil:
	default:
		return decoded{}, fmt.Errorf("signing: stored key ring: want exactly one of payload and sealed")
	}
	if err := json.Unmarshal(plain, &d.payload); err != nil {
		return decoded{}, fmt.Errorf("signing: stored key ring payload: %w", err)
	}
	return d, nil
}

// encode makes the stored document: sealed with kek (Keys.sealer), in
// clear when it is nil.
func encode(p payload, kek *KEK) ([]byte, error) {
	plain, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("signing: encode key ring: %w", err)
	}
	s := stored{Format: formatVersion}
	if kek != nil {
		if s.Sealed, err = kek.seal(DocName, plain); err != nil {
			return nil, err
		}
	} else {
		s.Payload = plain
	}
	return json.Marshal(s)
}

// needsRewrite reports whether a stored document must be rewritten before
// this node uses it: it is in clear (either format) while a KEK is
// configured, or sealed with an older KEK. A version-1 document in clear
// is otherwise left as it is until the next write (a rotation), so nodes
// of an earlier version can still read it during a rolling upgrade.
func (o *Options) needsRewrite(d decoded) bool {
	if o.KEK == nil {
		return false // never decrypt a ring back to clear on our own
	}
	return d.kek != o.KEK.ID
}

// secretFingerprint names an HS256 secret without revealing it: the
// secret is at least 256 bits from a CSPRNG, so its keyed hash cannot be
// inverted.
func secretFingerprint(secret []byte) string {
	m := hmac.New(sha256.New, []byte("sessiond hs256 secret fingerprint"))
	m.Write(secret)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// superseded reports whether fp is one of the secrets the stored ring
// replaced.
func (p payload) superseded(fp string) bool { return slices.Contains(p.HS256Superseded, fp) }
