// ConnectionTable: connections counted per port and peer address, and the limits judged on
// them (a connection over the per-address or per-port limit, none while within).
#include <gtest/gtest.h>

#include "edge/connection_table.hpp"

namespace {

using qg::broker::ConnectionLimits;
using qg::broker::ConnectionTable;
using qg::broker::Port;

TEST(ConnectionTable, AnAddressPastItsLimitIsRefusedWhileAnotherIsNot) {
  ConnectionTable table(ConnectionLimits{2, 100});
  EXPECT_EQ(table.accepted(Port::clients, 10, "127.0.0.2"), nullptr);
  EXPECT_EQ(table.accepted(Port::clients, 11, "127.0.0.2"), nullptr);
  EXPECT_NE(table.accepted(Port::clients, 12, "127.0.0.2"), nullptr);
  EXPECT_NE(table.over_limit(Port::clients, "127.0.0.2"), nullptr);
  EXPECT_EQ(table.over_limit(Port::clients, "127.0.0.1"), nullptr);
  EXPECT_EQ(table.accepted(Port::clients, 13, "127.0.0.1"), nullptr);
  // Another port counts apart.
  EXPECT_EQ(table.accepted(Port::workers, 14, "127.0.0.2"), nullptr);
  table.disconnected(Port::clients, 12);
  EXPECT_EQ(table.over_limit(Port::clients, "127.0.0.2"), nullptr);
  EXPECT_EQ(table.count(Port::clients, "127.0.0.2"), 2u);
  EXPECT_EQ(table.count(Port::clients), 3u);
}

TEST(ConnectionTable, APortPastItsTotalIsRefusedForEveryAddress) {
  ConnectionTable table(ConnectionLimits{0, 2});
  EXPECT_EQ(table.accepted(Port::events_out, 1, "10.0.0.1"), nullptr);
  EXPECT_EQ(table.accepted(Port::events_out, 2, "10.0.0.2"), nullptr);
  EXPECT_NE(table.accepted(Port::events_out, 3, "10.0.0.3"), nullptr);
  EXPECT_NE(table.over_limit(Port::events_out, "10.0.0.4"), nullptr);
  table.disconnected(Port::events_out, 3);
  table.disconnected(Port::events_out, 99);  // never counted: nothing happens
  EXPECT_EQ(table.over_limit(Port::events_out, "10.0.0.4"), nullptr);
}

TEST(ConnectionTable, ADescriptorSeenAgainWithoutItsDisconnectionIsCountedOnce) {
  ConnectionTable table(ConnectionLimits{5, 5});
  EXPECT_EQ(table.accepted(Port::workers, 7, "127.0.0.2"), nullptr);
  EXPECT_EQ(table.accepted(Port::workers, 7, "127.0.0.3"), nullptr);
  EXPECT_EQ(table.count(Port::workers), 1u);
  EXPECT_EQ(table.count(Port::workers, "127.0.0.2"), 0u);
  EXPECT_EQ(table.count(Port::workers, "127.0.0.3"), 1u);
}

TEST(ConnectionTable, ZapDomainsNameTheirPorts) {
  EXPECT_EQ(qg::broker::port_of_domain("events-out"), Port::events_out);
  EXPECT_FALSE(qg::broker::port_of_domain("elsewhere"));
}

}  // namespace
