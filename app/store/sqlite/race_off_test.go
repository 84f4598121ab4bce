//go:build !race

package sqlite_test

// raceEnabled is true when the race detector, whose shadow memory makes
// RSS readings meaningless, is built in.
const raceEnabled = false
