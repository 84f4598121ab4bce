package proxy

import (
	"encoding/json"
	"net/http"
)

// writeError answers with an OpenAI-format error, so that SDKs show the
// proxy's own failures the same way as the upstream's.
func writeError(w http.ResponseWriter, status int, typ, msg string) {
	var body struct {
		Error struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Code    int    `json:"code"`
		} `json:"error"`
	}
	body.Error.Message, body.Error.Type, body.Error.Code = msg, typ, status
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}
