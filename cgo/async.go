package aiworker

/*
#include "aiwgo.h"
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// Unary calls run on the client's aiw_queue. A caller registers its callBuf
// under a tag (an index into c.slots: C holds only the integer), starts the
// call with one cgo transition and waits on its channel. One poller goroutine
// per client takes the completions in batches with one transition per batch
// (aiwgo_queue_next: each response already flattened into a C block) and
// hands each to its caller. The caller decodes the block and passes it back
// through c.toFree; the poller frees those on its next transition. The poller
// is started by a call that finds none running and leaves once nothing has
// been in flight for pollLingerMS (or the queue is shut down), so an idle
// client has no goroutine. A call that cannot be cancelled and finds no
// poller running is the poller itself until its own answer comes (lead).

const (
	pollBatch    = 64  // completions taken per poller transition
	freeMax      = 256 // blocks waiting for the poller; beyond that the caller frees its own
	pollLingerMS = 20  // an idle poller leaves after this long without calls
)

// addWaiter registers b for a call about to start and returns its tag.
func (c *Client) addWaiter(b *callBuf) C.uint64_t {
	c.mu.Lock()
	var tag uint64
	if n := len(c.freeSlots); n > 0 {
		tag = c.freeSlots[n-1]
		c.freeSlots = c.freeSlots[:n-1]
		c.slots[tag] = b
	} else {
		tag = uint64(len(c.slots))
		c.slots = append(c.slots, b)
	}
	c.mu.Unlock()
	return C.uint64_t(tag)
}

// dropWaiter unregisters the tag of a call that did not start.
func (c *Client) dropWaiter(tag C.uint64_t) {
	c.mu.Lock()
	c.slots[tag] = nil
	c.freeSlots = append(c.freeSlots, uint64(tag))
	c.mu.Unlock()
}

// started counts a call that started (its completion is coming) and makes
// sure a poller runs.
//
// c.pending is calls counted here minus completions delivered, so it may dip
// below zero while a completion overtakes its caller's count. The poller
// waits in C without a time limit only while pending > 0 (a counted call is
// undelivered, so a completion will come); otherwise it waits at most
// pollLingerMS and leaves if still nothing is pending. A completion left in
// the queue by a poller that left belongs to a call not counted yet: its
// count finds pending > 0 and no poller, and starts one.
//
// With canLead (the caller's context can never be done) and no poller
// running, it returns true instead of starting one: the caller polls itself
// (lead).
func (c *Client) started(canLead bool) (lead bool) {
	c.mu.Lock()
	c.pending++
	if !c.running && (canLead || c.pending > 0) {
		c.running = true
		if canLead {
			lead = true
		} else {
			c.pollers.Add(1)
			go c.poll()
		}
	}
	c.mu.Unlock()
	return lead
}

// freeLater hands an answer block to the poller (or frees it here when the
// list is full or the client is closing).
func (c *Client) freeLater(p unsafe.Pointer) {
	c.mu.Lock()
	// Only a running poller frees the list: an idle client must not keep
	// answer blocks (up to the receive limit each) until its next call.
	if !c.closed && c.running && len(c.toFree) < freeMax {
		c.toFree = append(c.toFree, p)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	C.aiwgo_free(p)
}

// pollState is the poller's working memory, one per client (only one poller
// runs at a time). It holds no Go pointer (C sees all of it).
type pollState struct {
	events [pollBatch]C.aiwgo_event
	toFree [freeMax]unsafe.Pointer
}

// pollOnce is one poller transition: frees the blocks handed back, waits
// (timeout -1: for ever) and takes a batch of completions, and delivers
// them. As the poller goroutine (leader false) it also decides, under the
// same lock as the count, whether to leave: on shutdown, or when the wait
// timed out with nothing counted in flight.
func (c *Client) pollOnce(timeout C.int64_t, leader bool) (n int, leave bool) {
	ps := c.ps
	var ready [pollBatch]*callBuf
	c.mu.Lock()
	nf := copy(ps.toFree[:], c.toFree)
	c.toFree = c.toFree[:0]
	want := c.pending // no use asking for more than are in flight
	c.mu.Unlock()
	if want < 1 {
		want = 1
	} else if want > pollBatch {
		want = pollBatch
	}
	// Plain pointers: for an argument written &x.f[0] cgo's pointer check
	// boxes (copies) the whole array on every call.
	evp, tfp := &ps.events[0], &ps.toFree[0]
	r := C.aiwgo_queue_next(c.q, timeout, evp, C.size_t(want), tfp, C.size_t(nf))
	n = int(r)
	if r < 0 {
		n = 0
	}
	c.mu.Lock()
	for i := 0; i < n; i++ {
		tag := uint64(ps.events[i].tag)
		ready[i] = c.slots[tag]
		c.slots[tag] = nil
		c.freeSlots = append(c.freeSlots, tag)
	}
	c.pending -= n
	var orphans []unsafe.Pointer
	if !leader {
		leave = r < 0 || (n == 0 && c.pending <= 0) // shut down, or idle for the timeout
		if leave {
			orphans = c.stopPolling()
		}
	}
	c.mu.Unlock()
	freeAll(orphans)
	for i := 0; i < n; i++ {
		ready[i].ch <- ps.events[i]
	}
	return n, leave
}

// stopPolling marks that no poller runs and takes the blocks handed back
// for it, which the caller frees (freeAll) after unlocking. Under c.mu.
func (c *Client) stopPolling() []unsafe.Pointer {
	c.running = false
	if len(c.toFree) == 0 {
		return nil
	}
	orphans := append([]unsafe.Pointer(nil), c.toFree...)
	c.toFree = c.toFree[:0]
	return orphans
}

// freeAll frees answer blocks with one transition.
func freeAll(blocks []unsafe.Pointer) {
	if len(blocks) > 0 {
		C.aiwgo_free_all(&blocks[0], C.size_t(len(blocks)))
	}
}

// poll is the poller goroutine.
func (c *Client) poll() {
	defer c.pollers.Done()
	for {
		timeout := C.int64_t(-1)
		c.mu.Lock()
		if c.pending < 1 {
			// Nothing counted in flight: linger a little for the next call
			// (or a completion that overtook its caller's count).
			timeout = pollLingerMS
		}
		c.mu.Unlock()
		n, leave := c.pollOnce(timeout, false)
		if leave {
			return
		}
		if n > 0 {
			// Let the callers just made runnable run here first: with this
			// P's queue empty again the poller goes back into C, and a
			// caller's next call usually starts before it does -- no thread
			// hand-off, no P taken from a poller blocked in C.
			runtime.Gosched()
		}
	}
}

// lead makes a caller whose context can never be done, and which found no
// poller running, the poller itself until its own completion is in b.ch
// (delivering any others meanwhile): a call at a time then costs no
// goroutine switch at all. Its own completion will come, so it waits
// without a time limit. Afterwards a poller goroutine takes over if other
// calls are in flight.
func (c *Client) lead(b *callBuf) {
	for len(b.ch) == 0 {
		if n, _ := c.pollOnce(-1, true); n > 0 && len(b.ch) == 0 {
			runtime.Gosched()
		}
	}
	var orphans []unsafe.Pointer
	c.mu.Lock()
	if c.pending > 0 {
		c.pollers.Add(1)
		go c.poll()
	} else {
		orphans = c.stopPolling()
	}
	c.mu.Unlock()
	freeAll(orphans)
}
