package aiworker

/*
#include "aiwgo.h"
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// The event loop. Every call of a Client, unary or streaming, runs on the
// client's aiw_queue. A caller registers a waiter under a tag (an index into
// c.slots: C holds only the integer), starts the call with one cgo
// transition (aiwgo_start) and parks on the waiter's channel. One poller
// goroutine per client, for the client's whole life, takes completions in
// batches with one transition each (aiwgo_queue_next) and hands every event
// to its waiter: a parked goroutine, never an OS thread inside C. The
// poller itself is the one goroutine that waits in C.

const pollBatch = 64 // completions taken per poller transition

// waiter receives the events of one call: a unary call's RESULT, or a
// stream's MESSAGE events and then its RESULT. libaiw reads a stream's next
// message only after the previous one's completion is freed, so at most one
// message and the RESULT are ever undelivered: the channel never fills and
// the poller never blocks on it.
type waiter struct {
	ch     chan delivery
	stream bool
	// sawHeader: the poller has looked at this stream's headers (first message).
	sawHeader bool
	// dropped: Close threw away a message nobody had read (under c.mu).
	dropped bool
	endMsg  string // a stream's RESULT message, copied by the poller
	// ... and its response metadata (nil when none), status details, peer.
	endHeader, endTrailer Metadata
	endDetails            []byte
	wantPeer              bool // the stream's caller asked for the peer
	endPeer               string
}

// delivery is one event as a waiter receives it. A stream message whose
// reader was waiting for it arrives copied (data, header; completion nil):
// the poller frees its completion itself in its next transition, so the
// stream reads on at once without the reader calling into C. Otherwise the
// completion comes along, and whoever takes it frees it.
type delivery struct {
	ev     C.aiwgo_event
	data   []byte
	header Metadata
}

// takeUnread moves the MESSAGE events waiting in a stream's channel onto
// list (Close frees them); a RESULT found there is put back. Under c.mu.
func (w *waiter) takeUnread(list []*C.aiw_completion) []*C.aiw_completion {
	for {
		select {
		case d := <-w.ch:
			if d.ev.is_message == 0 {
				w.ch <- d
				return list
			}
			if d.ev.completion != nil {
				list = append(list, d.ev.completion)
			}
			w.dropped = true
		default:
			return list
		}
	}
}

func newWaiter() *waiter { return &waiter{ch: make(chan delivery, 2)} }

// register gives w a tag; false once the client is closed. Every
// registered call counts as active until its RESULT is delivered; a unary
// call also counts in c.calls until its caller is done (the caller calls
// c.calls.Done()).
func (c *Client) register(w *waiter, unary bool) (C.uint64_t, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, false
	}
	if unary {
		c.calls.Add(1)
	}
	var tag uint64
	if n := len(c.freeSlots); n > 0 {
		tag = c.freeSlots[n-1]
		c.freeSlots = c.freeSlots[:n-1]
		c.slots[tag] = w
	} else {
		tag = uint64(len(c.slots))
		c.slots = append(c.slots, w)
	}
	c.active++
	return C.uint64_t(tag), true
}

// unregister frees the tag of a call that did not start.
func (c *Client) unregister(tag C.uint64_t) {
	c.mu.Lock()
	c.slots[tag] = nil
	c.freeSlots = append(c.freeSlots, uint64(tag))
	c.ended()
	c.mu.Unlock()
}

// ended counts a call whose RESULT was delivered (or that never started).
// Under c.mu.
func (c *Client) ended() {
	c.active--
	if c.active == 0 && c.idle != nil {
		close(c.idle)
		c.idle = nil
	}
}

// poll is the poller goroutine: it lives until the queue is shut down
// (Close, once no call is active).
func (c *Client) poll() {
	defer close(c.pollDone)
	p := c.pollMem
	events := unsafe.Slice(p.events, pollBatch)
	toFree := unsafe.Slice(p.to_free, pollBatch)
	nFree := 0
	var ready [pollBatch]*waiter
	var out [pollBatch]delivery
	for {
		n := int(C.aiwgo_queue_next(c.q, -1, p, C.size_t(nFree)))
		nFree = 0
		if n < 0 {
			return
		}
		c.mu.Lock()
		for i := 0; i < n; i++ {
			ev := &events[i]
			tag := uint64(ev.tag)
			w := c.slots[tag]
			ready[i] = w
			out[i] = delivery{}
			if ev.is_message != 0 {
				switch {
				case c.closed:
					// Nobody may read it any more: free it here, which lets
					// the (cancelled) stream go on to its RESULT -- never a
					// clean end, although C may not have seen the cancel yet.
					toFree[nFree] = ev.completion
					nFree++
					ready[i] = nil
					w.dropped = true
				case len(w.ch) == 0:
					// Its reader has nothing else to read: copy it and let
					// the stream read on now. At most this one copied and
					// one held message wait in Go per stream.
					if n := ev.len; n > 0 {
						out[i].data = C.GoBytes(unsafe.Pointer(ev.data), C.int(n))
					} else {
						out[i].data = []byte{}
					}
					if !w.sawHeader {
						out[i].header = readMetadata(ev.completion, false, ev.n_headers)
					}
					toFree[nFree] = ev.completion
					nFree++
					ev.completion, ev.data = nil, nil
				}
				w.sawHeader = true
				continue
			}
			c.slots[tag] = nil
			c.freeSlots = append(c.freeSlots, tag)
			c.ended()
			if w.stream {
				// A stream's RESULT carries no message: what Go needs is
				// copied out and the completion freed by the next transition.
				w.endMsg = ""
				if ev.msg_len > 0 {
					w.endMsg = C.GoStringN(ev.msg, C.int(ev.msg_len))
				}
				ev.msg = nil
				w.endHeader = readMetadata(ev.completion, false, ev.n_headers)
				w.endTrailer = readMetadata(ev.completion, true, ev.n_trailers)
				if ev.code != C.AIW_OK && ev.n_trailers > 0 {
					w.endDetails = readDetails(ev.completion)
				}
				if w.wantPeer {
					w.endPeer = readPeer(ev.completion)
				}
				toFree[nFree] = ev.completion
				nFree++
				ev.completion = nil
			}
		}
		// Delivered under c.mu, so that Close's sweep of unread messages
		// cannot miss one (the sends never block: see waiter).
		for i := 0; i < n; i++ {
			if ready[i] != nil {
				out[i].ev = events[i]
				ready[i].ch <- out[i]
				ready[i], out[i] = nil, delivery{}
			}
		}
		c.mu.Unlock()
		// Let the goroutines just made runnable run here first: they
		// unmarshal, free their completion (a stream then reads on) and
		// usually park again before the poller goes back into C, so caller
		// and poller take turns on one thread.
		runtime.Gosched()
	}
}
