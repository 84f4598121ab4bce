package capture

// tailSize is how much of the end of an over-long body is kept, so that the
// usage chunk and the error event at the end of a long stream still count.
const tailSize = 64 << 10

// Body is a capped copy of a body as it passes through. The first Limit
// bytes are kept in Head; once Head is full, the last bytes are kept in Tail.
// Write never fails and never holds more than Limit+2*tailSize bytes.
type Body struct {
	Limit int    // maximum bytes kept in Head; 0 keeps nothing
	Head  []byte // the first Limit bytes
	tail  []byte
	Size  int64 // bytes written in all
}

// Write records p. It is called on the hot path, so it only copies.
func (b *Body) Write(p []byte) (int, error) {
	b.Size += int64(len(p))
	rest := p
	if room := b.Limit - len(b.Head); room > 0 {
		n := min(room, len(rest))
		b.Head = append(b.Head, rest[:n]...)
		rest = rest[n:]
	}
	if len(rest) > 0 {
		if len(rest) >= tailSize {
			b.tail = append(b.tail[:0], rest[len(rest)-tailSize:]...)
		} else {
			if len(b.tail)+len(rest) > 2*tailSize {
				keep := tailSize - len(rest)
				b.tail = append(b.tail[:0], b.tail[len(b.tail)-keep:]...)
			}
			b.tail = append(b.tail, rest...)
		}
	}
	return len(p), nil
}

// Truncated reports whether bytes were left out of Head.
func (b *Body) Truncated() bool { return int64(len(b.Head)) < b.Size }

// Tail returns up to 64 KiB of the end of the body that is not in Head.
// It may begin mid-line; it is empty when the whole body fitted in Head.
func (b *Body) Tail() []byte {
	if len(b.tail) > tailSize {
		return b.tail[len(b.tail)-tailSize:]
	}
	return b.tail
}
