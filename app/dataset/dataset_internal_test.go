package dataset

import (
	"strings"
	"testing"
)

// TestBanksAvoidNeedles proves that the needles are planted only where the
// generator plants them: every needle contains a forbidden piece, and no
// word or template of any bank contains one.
func TestBanksAvoidNeedles(t *testing.T) {
	for _, nd := range Needles {
		if !containsAny(nd.Token, forbidden) {
			t.Errorf("needle %q contains no forbidden piece, so a bank could produce it", nd.Token)
		}
		if !strings.Contains(nd.sentence, nd.Token) {
			t.Errorf("needle %q is not in its sentence %q", nd.Token, nd.sentence)
		}
	}
	check := func(what string, words []string) {
		for _, w := range words {
			if containsAny(w, forbidden) {
				t.Errorf("%s %q contains a needle's piece", what, w)
			}
		}
	}
	check("tech", techs)
	check("number", numbers)
	for _, b := range banks {
		for _, list := range [][]string{b.nouns, b.verbs, b.vings, b.adjs, b.general, b.places, b.pseudo, b.names, b.fillers} {
			check(b.lang.String()+" word", list)
		}
		for _, ts := range [][]template{b.system, b.opening, b.follow, b.context, b.greet, b.body, b.close} {
			for _, tm := range ts {
				for _, p := range tm {
					check(b.lang.String()+" template", []string{p.lit})
				}
			}
		}
	}
	if n := len(english.pseudo) + len(english.nouns) + len(english.verbs) + len(english.adjs); n < 3000 {
		t.Errorf("English has %d distinct words, want a few thousand", n)
	}
}

func containsAny(s string, pieces []string) bool {
	for _, p := range pieces {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}
