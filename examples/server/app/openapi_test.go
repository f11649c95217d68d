package app_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/examples/server/app"
)

// The API's contract is a valid OpenAPI 3 document whose every operation
// is named and whose every error answer has the API's error shape,
// {success:false, error:{code, message}}.
func TestOpenAPI_ValidDocumentWithOneErrorShape(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(app.OpenAPI)
	require.NoError(t, err)
	require.NoError(t, doc.Validate(context.Background()))

	errorShape := doc.Components.Schemas["Error"]
	require.NotNil(t, errorShape)
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			assert.NotEmpty(t, op.OperationID, "%s %s is named", method, path)
			for status, resp := range op.Responses.Map() {
				code, err := strconv.Atoi(status)
				require.NoError(t, err, "%s %s: %s", method, path, status)
				if code < 400 || code == 402 {
					continue // 402 is a declined approval: the approval's own shape
				}
				media := resp.Value.Content.Get("application/json")
				if !assert.NotNil(t, media, "%s %s %d answers JSON", method, path, code) {
					continue
				}
				assert.Equal(t, "#/components/schemas/Error", media.Schema.Ref, "%s %s %d has the error shape", method, path, code)
			}
		}
	}
}
