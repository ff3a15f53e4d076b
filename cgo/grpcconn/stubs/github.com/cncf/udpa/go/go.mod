module github.com/cncf/udpa/go
