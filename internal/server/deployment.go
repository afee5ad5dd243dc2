package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/jwttoken/signing"
)

// DeploymentDoc is the meta document holding the deployment's identity.
const DeploymentDoc = "deployment"

// deployment is what the server keeps under DeploymentDoc.
type deployment struct {
	// ID is 128 random bits, base64url, made on the first start.
	ID string `json:"id"`
	// Issuer and Audience, when set, are the defaults kept for a store
	// that issued tokens before defaults were unique ("sessiond").
	Issuer   string `json:"issuer,omitempty"`
	Audience string `json:"audience,omitempty"`
}

// loadDeployment returns the store's deployment identity, creating it on
// the first start (nodes racing agree through the compare-and-swap).
func loadDeployment(ctx context.Context, meta sessiond.MetaStore) (deployment, error) {
	for attempt := 0; attempt < 3; attempt++ {
		doc, _, err := meta.GetMeta(ctx, DeploymentDoc)
		if err == nil {
			var d deployment
			if err := json.Unmarshal(doc, &d); err != nil || d.ID == "" {
				return deployment{}, fmt.Errorf("stored deployment document is invalid: %w", sessiond.ErrInvalidArgument)
			}
			return d, nil
		}
		if !errors.Is(err, sessiond.ErrNotFound) {
			return deployment{}, fmt.Errorf("load deployment: %w", err)
		}
		var b [16]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
		d := deployment{ID: base64.RawURLEncoding.EncodeToString(b[:])}
		// A store whose key ring predates this document has issued tokens
		// with the old shared defaults: keep them valid.
		if _, _, err := meta.GetMeta(ctx, signing.DocName); err == nil {
			d.Issuer, d.Audience = "sessiond", "sessiond"
		} else if !errors.Is(err, sessiond.ErrNotFound) {
			return deployment{}, fmt.Errorf("load deployment: %w", err)
		}
		doc, err = json.Marshal(d)
		if err != nil {
			return deployment{}, err
		}
		if _, err := meta.PutMeta(ctx, DeploymentDoc, doc, 0); errors.Is(err, sessiond.ErrConflict) {
			continue // another node made it first: read theirs
		} else if err != nil {
			return deployment{}, fmt.Errorf("save deployment: %w", err)
		}
		return d, nil
	}
	return deployment{}, fmt.Errorf("deployment document keeps changing: %w", sessiond.ErrConflict)
}

// issuerAudience resolves jwt.issuer and jwt.audience: configured values
// win; empty ones default to names unique to the deployment, whose
// document it returns (nil when both are configured).
func issuerAudience(ctx context.Context, cfg config.Config, meta sessiond.MetaStore, log *slog.Logger) (string, string, *deployment, error) {
	iss, aud := cfg.JWT.Issuer, cfg.JWT.Audience
	if iss != "" && aud != "" {
		return iss, aud, nil, nil
	}
	d, err := loadDeployment(ctx, meta)
	if err != nil {
		return "", "", nil, err
	}
	defIss, defAud := "urn:sessiond:"+d.ID, "urn:sessiond:"+d.ID+":api"
	if d.Issuer != "" {
		defIss, defAud = d.Issuer, d.Audience
		log.Warn("jwt.issuer and jwt.audience default to \"sessiond\", shared with other deployments, because this store issued tokens before defaults were unique; set both explicitly (SD-JWT-008)")
	}
	if iss == "" {
		iss = defIss
	}
	if aud == "" {
		aud = defAud
	}
	log.Info("jwt issuer and audience", "issuer", iss, "audience", aud, "deployment", d.ID)
	return iss, aud, &d, nil
}
