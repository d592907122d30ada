// How a request is answered from any thread: a Responder is a small copyable handle to one
// waiting request. Thread rules: Send may be called from any thread, exactly once per request
// (later calls, from any copy, do nothing and return false); it never blocks on the network, it
// only hands the response to the connection's server thread.
//
// Promises: a response sent after the connection closed (or the server stopped) is dropped
// quietly; when the last copy of a Responder is destroyed without an answer, the request is
// answered 500 INTERNAL, so that no client is left hanging by a forgotten request. A long-poll
// handler simply keeps its Responder until it has something to say.
#pragma once

#include <atomic>
#include <functional>
#include <memory>

#include "http/http_message.h"

namespace aplus::http {

class Responder {
 public:
  // Where the response goes: called at most once, from the thread that calls Send (or destroys
  // the last copy). The HTTP server supplies a sink that posts to the connection's thread.
  using Sink = std::function<void(HttpResponse&&)>;

  explicit Responder(Sink sink);

  // Answers the request. Returns false (and does nothing) when it was already answered.
  bool Send(HttpResponse response) const;

  // True once Send was called on any copy.
  bool answered() const;

 private:
  class State;
  std::shared_ptr<State> state_;
};

}  // namespace aplus::http
