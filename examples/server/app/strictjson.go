package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// The API's one JSON decoder. Every JSON endpoint reads its body with decode,
// which is stricter than encoding/json on purpose: a request that two
// readers could understand differently is refused instead of guessed at.
//
//   - Content-Type must be application/json (charset, if given, utf-8):
//     415 otherwise, so a cross-site form post (text/plain,
//     application/x-www-form-urlencoded) never reaches a handler.
//   - The body must be valid UTF-8 and its strings may not hold lone UTF-16
//     surrogates (\ud800): encoding/json would turn both into U+FFFD, making
//     different byte strings the same order id.
//   - One JSON object and nothing after it; no duplicate keys; keys match the
//     API's names exactly (case-sensitive) and unknown keys are refused.
//   - Every field has its JSON type: strings are strings, amounts are JSON
//     numbers (never "15000"), counts are whole numbers, null is refused.
//
// Refusals are 400 INVALID_REQUEST (413 over the size cap, 415 for the media
// type) with a message in the API's terms, naming no Go types.

var errUnsupportedMedia = errors.New("unsupported media type")

// maxDepth bounds nesting; the API's requests are at most two levels deep.
const maxDepth = 16

// checkJSONContentType refuses a request whose body is not declared as
// JSON in UTF-8.
func checkJSONContentType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return fmt.Errorf("%w: Content-Type must be application/json", errUnsupportedMedia)
	}
	media, params, err := mime.ParseMediaType(ct)
	if err != nil || media != "application/json" {
		return fmt.Errorf("%w: Content-Type must be application/json", errUnsupportedMedia)
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return fmt.Errorf("%w: application/json takes no parameter but charset=utf-8", errUnsupportedMedia)
		}
	}
	return nil
}

// jsonOnly answers 415 before next runs (and before an Idempotency-Key is
// claimed) when the request is not JSON.
func (a *App) jsonOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := checkJSONContentType(r); err != nil {
			a.fail(w, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// decode reads a JSON request body under the size cap into v, a pointer to
// a request struct whose fields carry json tags.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if err := checkJSONContentType(r); err != nil {
		return err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return errTooLarge
		}
		return fmt.Errorf("%w: the body could not be read", errBadRequest)
	}
	return decodeStrict(body, v)
}

// decodeStrict is decode's body check and binding, for bodies already read.
func decodeStrict(body []byte, v any) error {
	if !utf8.Valid(body) {
		return fmt.Errorf("%w: the body is not valid UTF-8", errBadRequest)
	}
	p := &jsonParser{b: body}
	p.skipSpace()
	if p.i == len(p.b) {
		return fmt.Errorf("%w: the body is empty; send a JSON object", errBadRequest)
	}
	root, err := p.value(0)
	if err != nil {
		return fmt.Errorf("%w: malformed JSON: %v", errBadRequest, err)
	}
	p.skipSpace()
	if p.i != len(p.b) {
		return fmt.Errorf("%w: malformed JSON: data after the object at byte %d", errBadRequest, p.i)
	}
	if root.kind != kindObject {
		return fmt.Errorf("%w: the body must be a JSON object", errBadRequest)
	}
	if err := bindValue(root, reflect.ValueOf(v).Elem(), ""); err != nil {
		return fmt.Errorf("%w: %v", errBadRequest, err)
	}
	return nil
}

type jsonKind uint8

const (
	kindObject jsonKind = iota + 1
	kindArray
	kindString
	kindNumber
	kindBool
	kindNull
)

func (k jsonKind) String() string {
	switch k {
	case kindObject:
		return "an object"
	case kindArray:
		return "an array"
	case kindString:
		return "a string"
	case kindNumber:
		return "a number"
	case kindBool:
		return "a boolean"
	}
	return "null"
}

// jsonValue is one parsed JSON value. text is a string's value, a number's
// literal or "true"/"false".
type jsonValue struct {
	kind   jsonKind
	text   string
	keys   []string
	fields map[string]*jsonValue
	items  []*jsonValue
}

// jsonParser is an RFC 8259 parser over a body known to be valid UTF-8.
type jsonParser struct {
	b []byte
	i int
}

func (p *jsonParser) skipSpace() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonParser) errorf(format string, args ...any) error {
	return fmt.Errorf("%s at byte %d", fmt.Sprintf(format, args...), p.i)
}

func (p *jsonParser) value(depth int) (*jsonValue, error) {
	if depth > maxDepth {
		return nil, p.errorf("nested more than %d levels", maxDepth)
	}
	if p.i >= len(p.b) {
		return nil, p.errorf("unexpected end")
	}
	switch c := p.b[p.i]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		return &jsonValue{kind: kindString, text: s}, nil
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == 't':
		return p.literal("true", kindBool)
	case c == 'f':
		return p.literal("false", kindBool)
	case c == 'n':
		return p.literal("null", kindNull)
	}
	return nil, p.errorf("unexpected character")
}

func (p *jsonParser) literal(word string, kind jsonKind) (*jsonValue, error) {
	if !strings.HasPrefix(string(p.b[p.i:min(len(p.b), p.i+len(word))]), word) {
		return nil, p.errorf("unexpected character")
	}
	p.i += len(word)
	return &jsonValue{kind: kind, text: word}, nil
}

func (p *jsonParser) object(depth int) (*jsonValue, error) {
	p.i++ // {
	v := &jsonValue{kind: kindObject, fields: map[string]*jsonValue{}}
	p.skipSpace()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return v, nil
	}
	for {
		p.skipSpace()
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return nil, p.errorf("expected a key")
		}
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		if _, dup := v.fields[key]; dup {
			return nil, p.errorf("duplicate key %s", quoteClip(key))
		}
		p.skipSpace()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return nil, p.errorf("expected ':'")
		}
		p.i++
		p.skipSpace()
		item, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		v.keys = append(v.keys, key)
		v.fields[key] = item
		p.skipSpace()
		if p.i >= len(p.b) {
			return nil, p.errorf("unexpected end")
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return v, nil
		default:
			return nil, p.errorf("expected ',' or '}'")
		}
	}
}

func (p *jsonParser) array(depth int) (*jsonValue, error) {
	p.i++ // [
	v := &jsonValue{kind: kindArray}
	p.skipSpace()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return v, nil
	}
	for {
		p.skipSpace()
		item, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		v.items = append(v.items, item)
		p.skipSpace()
		if p.i >= len(p.b) {
			return nil, p.errorf("unexpected end")
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			return v, nil
		default:
			return nil, p.errorf("expected ',' or ']'")
		}
	}
}

// str reads a string; escapes must form valid Unicode scalar values.
func (p *jsonParser) str() (string, error) {
	p.i++ // "
	var sb strings.Builder
	for {
		if p.i >= len(p.b) {
			return "", p.errorf("unterminated string")
		}
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return sb.String(), nil
		case c < 0x20:
			return "", p.errorf("control character in a string")
		case c != '\\':
			sb.WriteByte(c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.b) {
			return "", p.errorf("unterminated string")
		}
		esc := p.b[p.i+1]
		p.i += 2
		switch esc {
		case '"', '\\', '/':
			sb.WriteByte(esc)
		case 'b':
			sb.WriteByte('\b')
		case 'f':
			sb.WriteByte('\f')
		case 'n':
			sb.WriteByte('\n')
		case 'r':
			sb.WriteByte('\r')
		case 't':
			sb.WriteByte('\t')
		case 'u':
			r, err := p.hex4()
			if err != nil {
				return "", err
			}
			switch {
			case utf16.IsSurrogate(r) && r < 0xDC00:
				// A high surrogate must be followed by a low one.
				if p.i+1 >= len(p.b) || p.b[p.i] != '\\' || p.b[p.i+1] != 'u' {
					return "", p.errorf("lone UTF-16 surrogate in a string")
				}
				p.i += 2
				lo, err := p.hex4()
				if err != nil {
					return "", err
				}
				pair := utf16.DecodeRune(r, lo)
				if pair == utf8.RuneError {
					return "", p.errorf("lone UTF-16 surrogate in a string")
				}
				sb.WriteRune(pair)
			case utf16.IsSurrogate(r):
				return "", p.errorf("lone UTF-16 surrogate in a string")
			default:
				sb.WriteRune(r)
			}
		default:
			return "", p.errorf("invalid escape in a string")
		}
	}
}

func (p *jsonParser) hex4() (rune, error) {
	if p.i+4 > len(p.b) {
		return 0, p.errorf("invalid \\u escape")
	}
	var r rune
	for _, c := range p.b[p.i : p.i+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, p.errorf("invalid \\u escape")
		}
	}
	p.i += 4
	return r, nil
}

// number reads -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?.
func (p *jsonParser) number() (*jsonValue, error) {
	start := p.i
	digits := func() int {
		n := 0
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.b[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i < len(p.b) && p.b[p.i] == '0':
		p.i++
	case digits() == 0:
		return nil, p.errorf("invalid number")
	}
	if p.i < len(p.b) && p.b[p.i] == '.' {
		p.i++
		if digits() == 0 {
			return nil, p.errorf("invalid number")
		}
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return nil, p.errorf("invalid number")
		}
	}
	return &jsonValue{kind: kindNumber, text: string(p.b[start:p.i])}, nil
}

var (
	numberType    = reflect.TypeFor[json.Number]()
	stringMapType = reflect.TypeFor[map[string]string]()
)

// bindValue stores a parsed object in dst, a struct whose fields carry the
// API's names as json tags. path names the object in error messages.
func bindValue(v *jsonValue, dst reflect.Value, path string) error {
	t := dst.Type()
	byName := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			byName[name] = i
		}
	}
	for _, key := range v.keys {
		i, ok := byName[key]
		if !ok {
			return fmt.Errorf("unknown field %s", quoteClip(path+key))
		}
		if err := bindField(v.fields[key], dst.Field(i), path+key); err != nil {
			return err
		}
	}
	return nil
}

func bindField(v *jsonValue, dst reflect.Value, name string) error {
	want := func(kind jsonKind, what string) error {
		if v.kind != kind {
			return fmt.Errorf("%s must be %s, not %s", name, what, v.kind)
		}
		return nil
	}
	t := dst.Type()
	switch {
	case t == numberType:
		if err := want(kindNumber, "a JSON number"); err != nil {
			return err
		}
		dst.SetString(v.text)
	case t.Kind() == reflect.String:
		if err := want(kindString, "a string"); err != nil {
			return err
		}
		dst.SetString(v.text)
	case t.Kind() == reflect.Bool:
		if err := want(kindBool, "true or false"); err != nil {
			return err
		}
		dst.SetBool(v.text == "true")
	case t.Kind() == reflect.Int:
		if err := want(kindNumber, "a whole number"); err != nil {
			return err
		}
		n, err := strconv.ParseInt(v.text, 10, 32)
		if err != nil {
			return fmt.Errorf("%s must be a whole number", name)
		}
		dst.SetInt(n)
	case t == stringMapType:
		if err := want(kindObject, "an object of strings"); err != nil {
			return err
		}
		m := make(map[string]string, len(v.keys))
		for _, k := range v.keys {
			item := v.fields[k]
			if item.kind != kindString {
				return fmt.Errorf("%s must be a string, not %s", quoteClip(name+"."+k), item.kind)
			}
			m[k] = item.text
		}
		dst.Set(reflect.ValueOf(m))
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct:
		if err := want(kindObject, "an object"); err != nil {
			return err
		}
		obj := reflect.New(t.Elem())
		if err := bindValue(v, obj.Elem(), name+"."); err != nil {
			return err
		}
		dst.Set(obj)
	default:
		// A request type with a field this decoder does not know: a bug
		// in this package, refused rather than guessed.
		return fmt.Errorf("%s cannot be read", name)
	}
	return nil
}

// quoteClip quotes a client's text for an error message, at most 64 bytes
// of it.
func quoteClip(s string) string {
	return strconv.Quote(clipText(s, 64))
}

// clipText cuts s to at most n bytes on a rune boundary, marking the cut.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
