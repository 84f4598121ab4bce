package dataset

// Needles are rare tokens planted at fixed record indexes, so that search
// tests and benchmarks know exactly which records must match. No phrase bank
// can produce a needle (TestBanksAvoidNeedles), so the planted records are
// the only ones that contain it: a request needle in the request body, a
// reply needle in the reassembled reply (capture.Record.Content) but, cut by
// a chunk boundary, not in the raw stream. A record carries at most one needle, and a
// conversation ends with the record that carries one, so later requests do
// not repeat it in their history.
//
// At 1,000,000 records:
//
//	token                      where                               every    count  language  key
//	berlin42                   request, last user turn             1,000    1,000  en        any
//	zanzibar17                 request, last user turn             100,000     10  en        any
//	purple elephant migration  request, last user turn (phrase)    5,000      200  en        any
//	marmoset5                  request, last user turn             2,000      500  en        key 7 only
//	琥珀鲸                      request, last user turn             10,000     100  zh        any
//	quokka88                   streamed reply only, split in two   10,000     100  en        any
//	檸檬飴                      streamed reply only, split in two   50,000      20  ja        any
//
// "purple" and "migration" are ordinary words of the English bank, so the
// phrase is rare while its words are common; "elephant" appears only in it.
// A reply needle is cut by an SSE chunk boundary ("quo" + "kka88", "檸" +
// "檬飴"), so it is in the reassembled content but not in the raw stream.
var Needles = []Needle{
	{Token: "berlin42", Where: InRequest, Lang: English, Every: 1_000, Phase: 500, Key: -1,
		sentence: "We call this service berlin42 internally."},
	{Token: "zanzibar17", Where: InRequest, Lang: English, Every: 100_000, Phase: 50_250, Key: -1,
		sentence: "The ticket is tagged zanzibar17 in our tracker."},
	{Token: "purple elephant migration", Where: InRequest, Lang: English, Every: 5_000, Phase: 2_750, Key: -1,
		sentence: "This is for the purple elephant migration we start next week."},
	{Token: "marmoset5", Where: InRequest, Lang: English, Every: 2_000, Phase: 1_875, Key: 7,
		sentence: "Our deploy bot marmoset5 runs it every night."},
	{Token: "琥珀鲸", Where: InRequest, Lang: Chinese, Every: 10_000, Phase: 7_375, Key: -1,
		sentence: "我们内部把这个项目叫琥珀鲸，请不要外传。"},
	{Token: "quokka88", Where: InReply, Lang: English, Every: 10_000, Phase: 5_125, Key: -1, split: 3,
		sentence: "The quokka88 helper already does most of this for you."},
	{Token: "檸檬飴", Where: InReply, Lang: Japanese, Every: 50_000, Phase: 25_625, Key: -1, split: len("檸"),
		sentence: "ちなみに、この処理は檸檬飴というモジュールが担当しています。"},
}

// Where is the part of an exchange a needle is planted in.
type Where uint8

const (
	// InRequest plants the needle in the new user turn at the end of the
	// request's messages: the text a search index takes from the request.
	InRequest Where = iota
	// InReply plants the needle only in a streamed reply, with an SSE chunk
	// boundary inside it.
	InReply
)

// String names the place.
func (w Where) String() string {
	if w == InReply {
		return "reply"
	}
	return "request"
}

// Needle is one planted token. Record i (counting from 0) carries it when
// i%Every == Phase. Such a record is an OK chat completion in Lang, streamed
// when Where is InReply, made with key number Key (Generator.Keys) unless
// Key is -1.
type Needle struct {
	Token string
	Where Where
	Lang  Lang
	Every int
	Phase int
	Key   int

	sentence string // the sentence that carries the token
	split    int    // for InReply: the SSE chunk boundary, in bytes into Token
}

// At reports whether record i carries the needle.
func (n Needle) At(i int) bool { return i >= 0 && i%n.Every == n.Phase }

// Count returns how many of records 0..total-1 carry the needle.
func (n Needle) Count(total int) int {
	if total <= n.Phase {
		return 0
	}
	return (total - n.Phase + n.Every - 1) / n.Every
}

// needleAt returns the needle record i carries, or nil. The phases differ
// modulo 1,000, which divides every Every, so no record gets two.
func needleAt(i int) *Needle {
	if i%125 != 0 { // every Phase and Every is a multiple of 125
		return nil
	}
	for k := range Needles {
		if Needles[k].At(i) {
			return &Needles[k]
		}
	}
	return nil
}
