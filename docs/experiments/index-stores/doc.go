// Package indexstores holds the throwaway measurements behind the
// "Fifth session" part of docs/benchmarks.md (section 21): two index
// designs measured and not kept, Pebble and bbolt buckets as sorted runs.
// It is a module of its own, so attestd does not depend on Pebble; run it
// with
//
//	cd docs/experiments/index-stores && go test -run . -v -timeout 30m
//
// (PEBBLE_CACHE_MB sets Pebble's block cache; 0, the default, keeps
// Pebble's own 8 MB).
package indexstores
