#include "tools/bench/peers/rabbitmq_client.h"

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <poll.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

namespace aplus::bench::peers {
namespace {

constexpr amqp_channel_t kChannel = 1;

timeval Timeval(int64_t ns) {
  if (ns < 0) ns = 0;
  return timeval{static_cast<time_t>(ns / 1'000'000'000),
                 static_cast<suseconds_t>((ns % 1'000'000'000) / 1000)};
}

// A synchronous call's reply as a Status ("what" names the call): a timeout is UNREACHABLE.
Status ReplyToStatus(const amqp_rpc_reply_t& reply, const char* what) {
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return Status::Ok();
    case AMQP_RESPONSE_NONE:
      return Status(wire::INTERNAL, std::string(what) + ": no reply");
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return Status(reply.library_error == AMQP_STATUS_TIMEOUT ? wire::UNREACHABLE : wire::INTERNAL,
                    std::string(what) + ": " + amqp_error_string2(reply.library_error));
    case AMQP_RESPONSE_SERVER_EXCEPTION: {
      std::string text = std::string(what) + ": server closed the ";
      if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        auto* close = static_cast<amqp_channel_close_t*>(reply.reply.decoded);
        text += "channel: " + std::to_string(close->reply_code) + " " +
                std::string(static_cast<char*>(close->reply_text.bytes), close->reply_text.len);
      } else if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        auto* close = static_cast<amqp_connection_close_t*>(reply.reply.decoded);
        text += "connection: " + std::to_string(close->reply_code) + " " +
                std::string(static_cast<char*>(close->reply_text.bytes), close->reply_text.len);
      } else {
        text += "channel";
      }
      return Status(wire::INTERNAL, text);
    }
  }
  return Status(wire::INTERNAL, std::string(what) + ": unknown reply");
}

// The reply of the last synchronous call on `connection`.
Status ReplyStatus(amqp_connection_state_t connection, const char* what) {
  return ReplyToStatus(amqp_get_rpc_reply(connection), what);
}

}  // namespace

RabbitMqClient::RabbitMqClient(const PeerBenchOptions& options) : options_(options) {
  // amqp://HOST:PORT (the user is guest on vhost /, allowed from loopback only).
  std::string rest = options_.url;
  if (rest.rfind("amqp://", 0) == 0) rest = rest.substr(7);
  auto colon = rest.rfind(':');
  host_ = rest.substr(0, colon);
  if (colon != std::string::npos) port_ = std::atoi(rest.c_str() + colon + 1);
  queue_ = "aplus-peer-bench-" + std::to_string(getpid()) + "-" + std::to_string(SteadyNowNs());
}

RabbitMqClient::~RabbitMqClient() { Teardown(); }

nlohmann::json RabbitMqClient::SetupJson() const {
  return {{"peer", "RabbitMQ quorum queue"},
          {"client", std::string("librabbitmq ") + amqp_version()},
          {"url", options_.url},
          {"queue", "x-queue-type quorum, durable; persistent messages (delivery_mode 2)"},
          {"publisher", "publisher confirms, at most " + std::to_string(options_.max_unconfirmed) +
                            " unconfirmed"},
          {"consumer", "own connection, basic.qos prefetch " + std::to_string(options_.prefetch) +
                           ", one basic.ack per message"},
          {"durability", "fsync of the quorum log before the publisher confirm"}};
}

Result<RabbitMqClient::Connection> RabbitMqClient::Connect() {
  amqp_connection_state_t connection = amqp_new_connection();
  if (connection == nullptr) return Status(wire::INTERNAL, "amqp_new_connection failed");
  timeval timeout = Timeval(static_cast<int64_t>(options_.timeout_seconds * 1e9));
  amqp_set_handshake_timeout(connection, &timeout);
  amqp_set_rpc_timeout(connection, &timeout);
  amqp_socket_t* socket = amqp_tcp_socket_new(connection);
  if (socket == nullptr) {
    amqp_destroy_connection(connection);
    return Status(wire::INTERNAL, "amqp_tcp_socket_new failed");
  }
  int opened = amqp_socket_open_noblock(socket, host_.c_str(), port_, &timeout);
  if (opened != AMQP_STATUS_OK) {
    amqp_destroy_connection(connection);
    return Status(wire::UNREACHABLE,
                  "RabbitMQ at " + options_.url + ": " + amqp_error_string2(opened));
  }
  amqp_rpc_reply_t login =
      amqp_login(connection, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest");
  if (login.reply_type != AMQP_RESPONSE_NORMAL) {
    Status status = ReplyToStatus(login, "login");
    amqp_destroy_connection(connection);
    return status;
  }
  amqp_channel_open(connection, kChannel);
  Status opened_channel = ReplyStatus(connection, "channel.open");
  if (!opened_channel.ok()) {
    amqp_destroy_connection(connection);
    return opened_channel;
  }
  return connection;
}

void RabbitMqClient::Close(Connection& connection) {
  if (connection == nullptr) return;
  amqp_channel_close(connection, kChannel, AMQP_REPLY_SUCCESS);
  amqp_connection_close(connection, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(connection);
  connection = nullptr;
}

Status RabbitMqClient::Setup() {
  auto publisher = Connect();
  if (!publisher.ok()) return publisher.status();
  publisher_ = *publisher;
  amqp_table_entry_t type;
  type.key = amqp_cstring_bytes("x-queue-type");
  type.value.kind = AMQP_FIELD_KIND_UTF8;
  type.value.value.bytes = amqp_cstring_bytes("quorum");
  amqp_table_t arguments{1, &type};
  amqp_queue_declare(publisher_, kChannel, amqp_cstring_bytes(queue_.c_str()), /*passive=*/0,
                     /*durable=*/1, /*exclusive=*/0, /*auto_delete=*/0, arguments);
  Status declared = ReplyStatus(publisher_, "queue.declare (quorum)");
  if (!declared.ok()) return declared;
  amqp_confirm_select(publisher_, kChannel);
  Status confirms = ReplyStatus(publisher_, "confirm.select");
  if (!confirms.ok()) return confirms;

  auto consumer = Connect();
  if (!consumer.ok()) return consumer.status();
  consumer_ = *consumer;
  amqp_basic_qos(consumer_, kChannel, 0, static_cast<uint16_t>(options_.prefetch), 0);
  Status qos = ReplyStatus(consumer_, "basic.qos");
  if (!qos.ok()) return qos;
  amqp_basic_consume(consumer_, kChannel, amqp_cstring_bytes(queue_.c_str()), amqp_empty_bytes,
                     /*no_local=*/0, /*no_ack=*/0, /*exclusive=*/0, amqp_empty_table);
  return ReplyStatus(consumer_, "basic.consume");
}

void RabbitMqClient::Teardown() {
  Close(consumer_);
  if (publisher_ != nullptr) {
    amqp_queue_delete(publisher_, kChannel, amqp_cstring_bytes(queue_.c_str()), 0, 0);
    Close(publisher_);
  }
}

Status RabbitMqClient::Consume(RunRecord& record, const std::atomic<bool>& stop) {
  const uint64_t planned = options_.PlannedMessages();
  const int64_t quiet_limit_ns = static_cast<int64_t>(options_.timeout_seconds * 1e9);
  int64_t last_progress = SteadyNowNs();
  while (record.consumed.load(std::memory_order_relaxed) < planned) {
    if (stop.load()) return Status::Ok();
    amqp_maybe_release_buffers(consumer_);
    amqp_envelope_t envelope;
    timeval wait = Timeval(100'000'000);
    amqp_rpc_reply_t reply = amqp_consume_message(consumer_, &envelope, &wait, 0);
    int64_t now = SteadyNowNs();
    if (reply.reply_type == AMQP_RESPONSE_NORMAL) {
      uint64_t serial = 0;
      int64_t stamp = 0;
      if (!ReadStamp(envelope.message.body.bytes, envelope.message.body.len, &serial, &stamp)) {
        record.errors.Add("consume_foreign_message");
      } else {
        record.OnConsumed(serial, stamp, now, envelope.redelivered != 0);
      }
      int acked = amqp_basic_ack(consumer_, kChannel, envelope.delivery_tag, 0);
      amqp_destroy_envelope(&envelope);
      if (acked != AMQP_STATUS_OK) {
        record.errors.Add("consumer_ack_failed", amqp_error_string2(acked));
        return Status(wire::INTERNAL, std::string("basic.ack: ") + amqp_error_string2(acked));
      }
      last_progress = now;
      continue;
    }
    if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
        reply.library_error == AMQP_STATUS_TIMEOUT) {
      if (now - last_progress > quiet_limit_ns && !stop.load()) {
        record.errors.Add("consume_timeout");
        return Status(wire::UNREACHABLE, "RabbitMQ: no delivery for " +
                                             std::to_string(options_.timeout_seconds) + " s");
      }
      continue;
    }
    if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
        reply.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
      // Another method than basic.deliver arrived (a close, a consumer cancel): read it.
      amqp_frame_t frame;
      if (amqp_simple_wait_frame(consumer_, &frame) != AMQP_STATUS_OK) {
        record.errors.Add("consumer_connection_lost");
        return Status(wire::UNREACHABLE, "RabbitMQ: consumer connection lost");
      }
      if (frame.frame_type == AMQP_FRAME_METHOD) {
        record.errors.Add("consumer_unexpected_method", amqp_method_name(frame.payload.method.id));
        if (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
            frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD ||
            frame.payload.method.id == AMQP_BASIC_CANCEL_METHOD) {
          return Status(wire::INTERNAL, std::string("RabbitMQ closed the consumer: ") +
                                            amqp_method_name(frame.payload.method.id));
        }
      }
      continue;
    }
    record.errors.Add("consume_failed", ReplyStatus(consumer_, "consume").message());
    return Status(wire::INTERNAL,
                  "RabbitMQ consumer: " + ReplyStatus(consumer_, "consume").message());
  }
  return Status::Ok();
}

Status RabbitMqClient::Run(const std::optional<OpenLoopSchedule>& schedule, RunRecord& record) {
  const uint64_t planned = options_.PlannedMessages();
  const int64_t quiet_limit_ns = static_cast<int64_t>(options_.timeout_seconds * 1e9);
  std::atomic<bool> stop{false};
  Status consumer_status;
  std::thread consumer([&] { consumer_status = Consume(record, stop); });

  // Stamp of delivery tag t at [t - 1]; confirmed[t - 1] once its basic.ack (or nack) came.
  std::vector<int64_t> stamps(planned, 0);
  std::vector<char> settled(planned, 0);
  uint64_t published = 0, settled_count = 0, lowest_unsettled = 0;
  auto settle = [&](uint64_t tag, bool ack, int64_t now) {
    if (tag == 0 || tag > planned || settled[tag - 1]) return;
    settled[tag - 1] = 1;
    ++settled_count;
    if (ack) {
      record.OnConfirmed(stamps[tag - 1], now);
    } else {
      record.errors.Add("publish_nack");
    }
  };
  amqp_basic_properties_t properties;
  properties._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG;
  properties.delivery_mode = 2;  // persistent
  properties.content_type = amqp_cstring_bytes("application/octet-stream");
  std::string payload(options_.message_bytes, 'x');
  amqp_bytes_t queue = amqp_cstring_bytes(queue_.c_str());
  Status status;
  int64_t last_progress = SteadyNowNs();
  while (settled_count < planned) {
    int64_t now = SteadyNowNs();
    // Publish what is due and fits in the window of unconfirmed messages.
    while (published < planned && published - settled_count < options_.max_unconfirmed &&
           (!schedule || schedule->DueNs(published) <= now)) {
      int64_t stamp = schedule ? schedule->DueNs(published) : now;
      WriteStamp(payload, published, stamp);
      stamps[published] = stamp;
      if (published == 0) record.first_publish_ns = now;
      int sent = amqp_basic_publish(publisher_, kChannel, amqp_empty_bytes, queue, 0, 0,
                                    &properties, amqp_bytes_t{payload.size(), payload.data()});
      if (sent != AMQP_STATUS_OK) {
        record.errors.Add("publish_failed", amqp_error_string2(sent));
        status = Status(wire::INTERNAL, std::string("basic.publish: ") + amqp_error_string2(sent));
        break;
      }
      ++published;
      record.published.store(published, std::memory_order_relaxed);
      now = SteadyNowNs();
    }
    if (!status.ok()) break;
    // Wait for confirms until the next message is due (at most 5 ms), then take every frame
    // already there without waiting.
    int64_t wait_ns = 5'000'000;
    if (schedule && published < planned) {
      wait_ns = std::clamp<int64_t>(schedule->DueNs(published) - now, 0, wait_ns);
    }
    if (published < planned && published - settled_count >= options_.max_unconfirmed) {
      wait_ns = 5'000'000;  // the window is full: only a confirm lets us go on
    }
    // librabbitmq's own timeouts end up in poll() in whole milliseconds, which would make an
    // open loop at 1,000/s spin; ppoll() wakes at the due time to the microsecond.
    if (!amqp_frames_enqueued(publisher_) && !amqp_data_in_buffer(publisher_) && wait_ns > 0) {
      pollfd readable{amqp_get_sockfd(publisher_), POLLIN, 0};
      timespec wait{static_cast<time_t>(wait_ns / 1'000'000'000),
                    static_cast<long>(wait_ns % 1'000'000'000)};
      ppoll(&readable, 1, &wait, nullptr);
    }
    while (true) {
      timeval wait = Timeval(0);
      amqp_frame_t frame;
      int got = amqp_simple_wait_frame_noblock(publisher_, &frame, &wait);
      if (got == AMQP_STATUS_TIMEOUT) break;
      if (got != AMQP_STATUS_OK) {
        record.errors.Add("publisher_connection_lost", amqp_error_string2(got));
        status = Status(wire::UNREACHABLE,
                        std::string("RabbitMQ publisher connection: ") + amqp_error_string2(got));
        break;
      }
      if (frame.frame_type != AMQP_FRAME_METHOD) continue;
      int64_t at = SteadyNowNs();
      switch (frame.payload.method.id) {
        case AMQP_BASIC_ACK_METHOD:
        case AMQP_BASIC_NACK_METHOD: {
          bool ack = frame.payload.method.id == AMQP_BASIC_ACK_METHOD;
          uint64_t tag;
          bool multiple;
          if (ack) {
            auto* m = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
            tag = m->delivery_tag;
            multiple = m->multiple;
          } else {
            auto* m = static_cast<amqp_basic_nack_t*>(frame.payload.method.decoded);
            tag = m->delivery_tag;
            multiple = m->multiple;
          }
          if (multiple) {
            for (uint64_t t = lowest_unsettled + 1; t <= tag && t <= planned; ++t) {
              settle(t, ack, at);
            }
          } else {
            settle(tag, ack, at);
          }
          while (lowest_unsettled < planned && settled[lowest_unsettled]) ++lowest_unsettled;
          last_progress = at;
          break;
        }
        case AMQP_CHANNEL_CLOSE_METHOD:
        case AMQP_CONNECTION_CLOSE_METHOD:
          record.errors.Add("publisher_closed_by_server",
                            amqp_method_name(frame.payload.method.id));
          status = Status(wire::INTERNAL, std::string("RabbitMQ closed the publisher: ") +
                                              amqp_method_name(frame.payload.method.id));
          break;
        default:
          record.errors.Add("publisher_unexpected_method",
                            amqp_method_name(frame.payload.method.id));
      }
      if (!status.ok()) break;
    }
    amqp_maybe_release_buffers(publisher_);
    if (!status.ok()) break;
    if (SteadyNowNs() - last_progress > quiet_limit_ns && published > settled_count) {
      record.errors.Add("confirm_timeout");
      status = Status(wire::UNREACHABLE, "RabbitMQ: no publisher confirm for " +
                                             std::to_string(options_.timeout_seconds) + " s");
      break;
    }
  }
  if (!status.ok()) stop = true;
  consumer.join();
  if (!status.ok()) return status;
  return consumer_status;
}

}  // namespace aplus::bench::peers
