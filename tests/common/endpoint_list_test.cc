// common/endpoint_list.h: the one parser of `--broker a,b` and `[endpoints] broker = "a,b"`.
#include "common/endpoint_list.h"

#include <doctest/doctest.h>

using namespace aplus;

TEST_CASE("one endpoint is a list of one") {
  auto list = ParseEndpointList("tcp://127.0.0.1:7400");
  REQUIRE(list.ok());
  CHECK(*list == std::vector<std::string>{"tcp://127.0.0.1:7400"});
}

TEST_CASE("a comma-separated list keeps its order; blanks around items are dropped") {
  auto list = ParseEndpointList(" tcp://a:7400 , tcp://b:7400,tcp://c:7400 ");
  REQUIRE(list.ok());
  CHECK(*list == std::vector<std::string>{"tcp://a:7400", "tcp://b:7400", "tcp://c:7400"});
  CHECK(JoinEndpointList(*list) == "tcp://a:7400,tcp://b:7400,tcp://c:7400");
}

TEST_CASE("an empty list, an empty item or an endpoint twice is INVALID_ARGUMENT") {
  for (const char* bad : {"", "  ", "tcp://a:7400,", ",tcp://a:7400", "tcp://a:7400,,tcp://b:7400",
                          "tcp://a:7400,tcp://a:7400"}) {
    CAPTURE(bad);
    auto list = ParseEndpointList(bad);
    REQUIRE_FALSE(list.ok());
    CHECK(list.status().code() == wire::INVALID_ARGUMENT);
  }
}

TEST_CASE("constructors that cannot fail keep an unparsable text as one endpoint") {
  CHECK(EndpointListOrSelf("tcp://a:7400,tcp://b:7400") ==
        std::vector<std::string>{"tcp://a:7400", "tcp://b:7400"});
  CHECK(EndpointListOrSelf("tcp://a:7400,") == std::vector<std::string>{"tcp://a:7400,"});
}
