#include "http/responder.h"

#include "http/problem.h"

namespace aplus::http {

// Shared by every copy of one Responder; its destructor is the "answer 500 if forgotten" rule.
class Responder::State {
 public:
  explicit State(Sink sink) : sink_(std::move(sink)) {}
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  ~State() {
    if (!answered_.exchange(true)) {
      sink_(ProblemResponse(Status(wire::INTERNAL, "the request was dropped without an answer")));
    }
  }

  bool Send(HttpResponse&& response) {
    if (answered_.exchange(true)) return false;
    sink_(std::move(response));
    return true;
  }
  bool answered() const { return answered_.load(); }

 private:
  const Sink sink_;
  std::atomic<bool> answered_{false};
};

Responder::Responder(Sink sink) : state_(std::make_shared<State>(std::move(sink))) {}

bool Responder::Send(HttpResponse response) const { return state_->Send(std::move(response)); }

bool Responder::answered() const { return state_->answered(); }

}  // namespace aplus::http
