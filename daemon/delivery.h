/*
 * delivery.h - alerts, and Erasure entries, to the organisations they are
 * addressed to.
 *
 * What is delivered is what the alerts table lists: every alert entry the
 * watchdog writes and every Erasure entry (an owner's erasure or the
 * retention rules'), each to the organisations it names as recipients.
 * This file treats both alike and never looks inside the record; the
 * client tells them apart by the record's body.
 *
 * A peer subscribes with the last position it has seen.  The relay first
 * replays, from the database, every such entry after max(that position,
 * the organisation's last acknowledged position) that names the
 * organisation as a recipient, in order, a page at a time on the thread
 * pool; then it pushes each new one as the writer commits it.  The peer
 * acknowledges positions (DeliveryAck); the highest is kept per
 * organisation, so an organisation that was offline gets everything after
 * it on its next subscription, and nothing it acknowledged again.
 *
 * Desks: an organisation's colleagues may each subscribe as a desk of
 * their own (Subscribe.desk): every desk receives every delivery once,
 * from its own acknowledged position, kept under "ORG/DESK" (the default
 * desk's under "ORG"); who a delivery is addressed to is always the
 * organisation.
 *
 * A subscriber that does not read is not buffered for without limit: past
 * DELIVERY_MAX_QUEUE bytes of unread answers the relay sends Lagging and
 * stops pushing; the peer subscribes again and catches up by replay.
 */
#ifndef VIGIL_DAEMON_DELIVERY_H
#define VIGIL_DAEMON_DELIVERY_H

#include "daemon/writer.h"
#include "proto/vigil.pb-c.h"

struct conn;
struct relay;

#define DELIVERY_PAGE 64                       /* entries read per replay round */
#define DELIVERY_MAX_QUEUE (1024u * 1024u)     /* unread bytes before Lagging */

/* Is desk a desk name (1-DELIVERY_DESK_MAX of [a-z0-9-])? */
int delivery_desk_ok(const char *desk);

/* Handles Subscribe and DeliveryAck frames; takes ownership of f.  Calls
 * conn_answered(c) once when the request is done (a subscription: when
 * its first replay round has been answered). */
void delivery_subscribe(struct conn *c, Vigil__V1__Frame *f);
void delivery_ack(struct conn *c, Vigil__V1__Frame *f);

/* Records the peer's organisation, role and country (after its hello), so
 * that alerts can address the parties of a case by role. */
void delivery_note_peer(struct conn *c);

/* The writer's alert sink (writer_set_alert_sink): alerts and Erasure
 * entries; ctx is the relay. */
void delivery_on_alerts(void *ctx, struct writer_alert *list);

#endif
