// Package e2e holds the backend's end-to-end check: headless Chromium,
// driven over the DevTools protocol, loads the gateway's page, asks a
// question and runs a search against the reference AI service, and saves a
// screenshot to build/e2e/chat.png. Run it with go test (make test-backend).
package e2e
