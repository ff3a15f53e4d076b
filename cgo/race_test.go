//go:build race

package aiworker

const raceEnabled = true
