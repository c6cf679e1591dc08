"""SQL for the mail outbox. Functions take ``conn``, return dicts, never commit."""


def insert_message(conn, *, kind, user_id, to_address, subject, body, carries_secret, now):
    return conn.execute(
        """
        INSERT INTO mail_outbox (kind, user_id, to_address, subject, body, carries_secret,
                                 next_attempt_at, created_at, updated_at)
        VALUES (:kind, :user_id, :to_address, :subject, :body, :carries_secret, :now, :now, :now)
        RETURNING id
        """,
        {"kind": kind, "user_id": user_id, "to_address": to_address, "subject": subject,
         "body": body, "carries_secret": carries_secret, "now": now},
    ).fetchone()["id"]


def requeue_interrupted(conn, *, now):
    """Rows left 'sending' by a run that died mid-send: their outcome is unknown (the
    server may have accepted the message), so they are sent again, under the same
    Message-ID. Only the database's one scheduler calls this, before it claims anything."""
    return conn.execute(
        """
        UPDATE mail_outbox
        SET status = 'pending', next_attempt_at = :now, updated_at = :now,
            last_error = 'interrupted: the previous attempt did not finish'
        WHERE status = 'sending'
        """,
        {"now": now},
    ).rowcount


def claim_next_due(conn, *, now, message_id):
    """The oldest due pending message, moved to 'sending' and counted as an attempt;
    its Message-ID is fixed now if it has none yet (``message_id`` is a fresh one)."""
    return conn.execute(
        """
        UPDATE mail_outbox
        SET status = 'sending', attempts = attempts + 1,
            message_id = coalesce(message_id, :message_id), updated_at = :now
        WHERE id = (SELECT id FROM mail_outbox
                    WHERE status = 'pending' AND next_attempt_at <= :now
                    ORDER BY next_attempt_at, id LIMIT 1)
        RETURNING id, kind, to_address, subject, body, message_id, attempts, created_at
        """,
        {"now": now, "message_id": message_id},
    ).fetchone()


def mark_sent(conn, message_id, *, now):
    conn.execute(
        """
        UPDATE mail_outbox
        SET status = 'sent', sent_at = :now, updated_at = :now, last_error = NULL,
            body = CASE WHEN carries_secret THEN '' ELSE body END
        WHERE id = :id AND status = 'sending'
        """,
        {"id": message_id, "now": now},
    )


def mark_retry(conn, message_id, *, error, next_attempt_at, now):
    conn.execute(
        """
        UPDATE mail_outbox
        SET status = 'pending', last_error = :error, next_attempt_at = :next_attempt_at,
            updated_at = :now
        WHERE id = :id AND status = 'sending'
        """,
        {"id": message_id, "error": error, "next_attempt_at": next_attempt_at, "now": now},
    )


def mark_failed(conn, message_id, *, error, now):
    conn.execute(
        """
        UPDATE mail_outbox
        SET status = 'failed', last_error = :error, updated_at = :now,
            body = CASE WHEN carries_secret THEN '' ELSE body END
        WHERE id = :id AND status = 'sending'
        """,
        {"id": message_id, "error": error, "now": now},
    )


def count_by_status(conn):
    return conn.execute(
        "SELECT status, count(*) AS n FROM mail_outbox GROUP BY status ORDER BY status"
    ).fetchall()


def oldest_due_pending(conn, *, now):
    """created_at of the oldest message that is due and not sent yet (None if none)."""
    return conn.execute(
        """
        SELECT min(created_at) AS oldest FROM mail_outbox
        WHERE status IN ('pending', 'sending') AND next_attempt_at <= :now
        """,
        {"now": now},
    ).fetchone()["oldest"]


def failures_since(conn, since):
    """Messages given up on since ``since``, with the last error of the newest."""
    return conn.execute(
        """
        SELECT count(*) AS n, max(updated_at) AS latest FROM mail_outbox
        WHERE status = 'failed' AND updated_at > :since
        """,
        {"since": since},
    ).fetchone()


def latest_error(conn):
    """The newest recorded delivery error (failed, or pending a retry)."""
    return conn.execute(
        """
        SELECT id, status, attempts, last_error, updated_at FROM mail_outbox
        WHERE last_error IS NOT NULL AND status IN ('pending', 'failed')
        ORDER BY updated_at DESC, id DESC LIMIT 1
        """
    ).fetchone()


def messages_for(conn, to_address):
    """Every message to ``to_address``, oldest first (tests and operators)."""
    return conn.execute(
        "SELECT * FROM mail_outbox WHERE to_address = ? ORDER BY id", (to_address,)
    ).fetchall()


def stop_mail_for_user(conn, user_id, *, to_address, now):
    """Closing an account: mail not sent yet is given up, and no row keeps the old
    address or a body that may name the user (issue #18 item 6)."""
    conn.execute(
        """
        UPDATE mail_outbox
        SET status = 'failed', message_id = coalesce(message_id, :message_id || id),
            last_error = 'account closed', updated_at = :now
        WHERE user_id = :user_id AND status IN ('pending', 'sending')
        """,
        {"user_id": user_id, "now": now, "message_id": f"account-closed-{user_id}-"},
    )
    conn.execute(
        "UPDATE mail_outbox SET to_address = ?, body = '', updated_at = ? WHERE user_id = ?",
        (to_address, now, user_id),
    )
