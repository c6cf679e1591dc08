"""SQL for accounts, tokens and login attempts. Functions take ``conn``, return dicts, never commit."""

USER_COLUMNS = """
    id, name, email, phone, role, hospital_id, status, email_verified, email_notifications,
    last_login_at, created_at, updated_at
"""


def get_user(conn, user_id):
    return conn.execute(f"SELECT {USER_COLUMNS} FROM users WHERE id = ?", (user_id,)).fetchone()


def get_user_with_hash(conn, user_id):
    return conn.execute(
        f"SELECT {USER_COLUMNS}, password_hash FROM users WHERE id = ?", (user_id,)
    ).fetchone()


def get_user_by_email(conn, email):
    return conn.execute(
        f"SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = ?", (email,)
    ).fetchone()


def insert_user(conn, *, name, email, password_hash, phone, role, now):
    return conn.execute(
        """
        INSERT INTO users (name, email, password_hash, phone, role, created_at, updated_at)
        VALUES (:name, :email, :password_hash, :phone, :role, :now, :now)
        RETURNING id
        """,
        {"name": name, "email": email, "password_hash": password_hash,
         "phone": phone, "role": role, "now": now},
    ).fetchone()["id"]


def update_profile(conn, user_id, *, name, phone, email_notifications, now):
    conn.execute(
        """
        UPDATE users
        SET name = :name, phone = :phone, email_notifications = :email_notifications,
            updated_at = :now
        WHERE id = :id
        """,
        {"name": name, "phone": phone, "email_notifications": bool(email_notifications),
         "now": now, "id": user_id},
    )


def mark_email_verified(conn, user_id, now):
    conn.execute(
        """
        UPDATE users SET email_verified = TRUE, updated_at = :now
        WHERE id = :id AND email_verified = FALSE
        """,
        {"id": user_id, "now": now},
    )


# --- account tokens: mailed, single-use, expiring (verification, password reset) ---

def insert_account_token(conn, *, user_id, purpose, token_hash, now, expires_at):
    return conn.execute(
        """
        INSERT INTO account_tokens (user_id, purpose, token_hash, created_at, expires_at)
        VALUES (?, ?, ?, ?, ?)
        RETURNING id
        """,
        (user_id, purpose, token_hash, now, expires_at),
    ).fetchone()["id"]


def use_account_token(conn, *, token_hash, purpose, now):
    """Spend a live token: one guarded UPDATE, so of two requests with the same token
    only one gets the row back. None for an unknown, used or expired token alike."""
    return conn.execute(
        """
        UPDATE account_tokens SET used_at = :now
        WHERE token_hash = :token_hash AND purpose = :purpose
          AND used_at IS NULL AND expires_at > :now
        RETURNING user_id
        """,
        {"token_hash": token_hash, "purpose": purpose, "now": now},
    ).fetchone()


def retire_account_tokens(conn, *, user_id, purpose, now):
    """Every other live token of the user for ``purpose`` stops working."""
    conn.execute(
        """
        UPDATE account_tokens SET used_at = :now
        WHERE user_id = :user_id AND purpose = :purpose AND used_at IS NULL
        """,
        {"user_id": user_id, "purpose": purpose, "now": now},
    )


def insert_account_mail_request(conn, *, purpose, email, ip_address, now):
    conn.execute(
        """
        INSERT INTO account_mail_requests (purpose, email, ip_address, created_at)
        VALUES (?, ?, ?, ?)
        """,
        (purpose, email, ip_address, now),
    )


def account_mail_requests_for_email(conn, email, since):
    return conn.execute(
        """
        SELECT count(*) AS n, min(created_at) AS oldest FROM account_mail_requests
        WHERE email = ? AND created_at > ?
        """,
        (email, since),
    ).fetchone()


def account_mail_requests_for_ip(conn, ip_address, since):
    return conn.execute(
        """
        SELECT count(*) AS n, min(created_at) AS oldest FROM account_mail_requests
        WHERE ip_address = ? AND created_at > ?
        """,
        (ip_address, since),
    ).fetchone()


def update_password_hash(conn, user_id, password_hash, now):
    conn.execute(
        "UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?",
        (password_hash, now, user_id),
    )


def touch_last_login(conn, user_id, now):
    conn.execute("UPDATE users SET last_login_at = ? WHERE id = ?", (now, user_id))


def insert_token(conn, *, user_id, token_hash, now, expires_at):
    return conn.execute(
        """
        INSERT INTO api_tokens (user_id, token_hash, created_at, expires_at)
        VALUES (?, ?, ?, ?)
        RETURNING id
        """,
        (user_id, token_hash, now, expires_at),
    ).fetchone()["id"]


# A login's session record is its api_tokens row: the bearer token and the cookie
# session of that login both point at it, so revoking or expiring it ends both.
_LIVE_SESSION_SELECT = """
    SELECT t.id AS session_id, t.token_hash, u.id, u.name, u.email, u.phone, u.role,
           u.hospital_id, u.status, u.last_login_at, u.created_at, u.updated_at
    FROM api_tokens AS t JOIN users AS u ON u.id = t.user_id
"""
_LIVE = "t.revoked_at IS NULL AND t.expires_at > :now AND u.status = 'active'"


def get_user_by_token(conn, token_hash, now):
    """The active user behind a live (unrevoked, unexpired) bearer token."""
    return conn.execute(
        f"{_LIVE_SESSION_SELECT} WHERE t.token_hash = :token_hash AND {_LIVE}",
        {"token_hash": token_hash, "now": now},
    ).fetchone()


def get_user_by_session_id(conn, session_id, now):
    """The active user behind a live session record, looked up by id (cookie sessions)."""
    return conn.execute(
        f"{_LIVE_SESSION_SELECT} WHERE t.id = :session_id AND {_LIVE}",
        {"session_id": session_id, "now": now},
    ).fetchone()


def revoke_token(conn, session_id, now):
    conn.execute(
        "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
        (now, session_id),
    )


def revoke_user_tokens(conn, user_id, now, *, except_session_id=None):
    conn.execute(
        """
        UPDATE api_tokens SET revoked_at = :now
        WHERE user_id = :user_id AND revoked_at IS NULL AND id IS DISTINCT FROM :keep
        """,
        {"now": now, "user_id": user_id, "keep": except_session_id},
    )


def insert_failed_login_attempt(conn, *, email, ip_address, now):
    """A new attempt, counted as a failure until mark_login_succeeded says otherwise."""
    return conn.execute(
        """
        INSERT INTO login_attempts (email, ip_address, succeeded, created_at)
        VALUES (?, ?, FALSE, ?)
        RETURNING id
        """,
        (email, ip_address, now),
    ).fetchone()["id"]


def mark_login_succeeded(conn, attempt_id):
    conn.execute("UPDATE login_attempts SET succeeded = TRUE WHERE id = ?", (attempt_id,))


def recent_failures_for_email(conn, email, since):
    """Failures for ``email`` after ``since`` and after its last successful login."""
    return conn.execute(
        """
        SELECT count(*) AS failures, min(created_at) AS oldest
        FROM login_attempts
        WHERE email = :email AND succeeded = FALSE AND created_at > :since
          AND NOT EXISTS (SELECT 1 FROM login_attempts AS later
                          WHERE later.email = :email AND later.succeeded = TRUE
                            AND later.created_at >= login_attempts.created_at)
        """,
        {"email": email, "since": since},
    ).fetchone()


def recent_failures_for_ip(conn, ip_address, since):
    return conn.execute(
        """
        SELECT count(*) AS failures, min(created_at) AS oldest
        FROM login_attempts
        WHERE ip_address = ? AND succeeded = FALSE AND created_at > ?
        """,
        (ip_address, since),
    ).fetchone()


_USER_FILTER = """
    (:role IS NULL OR role = :role)
    AND (:status IS NULL OR status = :status)
    AND (:hospital_id IS NULL OR hospital_id = :hospital_id)
"""


def list_users(conn, *, role, status, hospital_id, limit, offset):
    return conn.execute(
        f"""
        SELECT {USER_COLUMNS} FROM users
        WHERE {_USER_FILTER}
        ORDER BY id
        LIMIT :limit OFFSET :offset
        """,
        {"role": role, "status": status, "hospital_id": hospital_id,
         "limit": limit, "offset": offset},
    ).fetchall()


def count_users(conn, *, role, status, hospital_id):
    return conn.execute(
        f"""
        SELECT count(*) AS n FROM users
        WHERE {_USER_FILTER}
        """,
        {"role": role, "status": status, "hospital_id": hospital_id},
    ).fetchone()["n"]


def set_user_status(conn, user_id, status, now):
    conn.execute(
        "UPDATE users SET status = ?, updated_at = ? WHERE id = ?", (status, now, user_id)
    )


def count_users_by_role(conn):
    return conn.execute("SELECT role, count(*) AS n FROM users GROUP BY role").fetchall()


def list_hospital_staff(conn, hospital_id):
    """The hospital-authority accounts of one hospital, oldest account first."""
    return conn.execute(
        f"""
        SELECT {USER_COLUMNS} FROM users
        WHERE hospital_id = ? AND role = 'hospital-authority'
        ORDER BY id
        """,
        (hospital_id,),
    ).fetchall()


def detach_authority(conn, user_id, hospital_id, now):
    """Take an authority off its hospital, unless that would leave the hospital without
    another active authority: the check and the change are one statement. True if it
    happened."""
    cursor = conn.execute(
        """
        UPDATE users SET hospital_id = NULL, updated_at = :now
        WHERE id = :user_id AND hospital_id = :hospital_id AND role = 'hospital-authority'
          AND EXISTS (SELECT 1 FROM users AS other
                      WHERE other.hospital_id = :hospital_id AND other.id <> :user_id
                        AND other.role = 'hospital-authority' AND other.status = 'active')
        """,
        {"user_id": user_id, "hospital_id": hospital_id, "now": now},
    )
    return cursor.rowcount == 1


def attach_authority(conn, user_id, hospital_id, now):
    """Make a hospital-authority without a hospital its authority. True if it happened."""
    cursor = conn.execute(
        """
        UPDATE users SET hospital_id = :hospital_id, updated_at = :now
        WHERE id = :user_id AND role = 'hospital-authority' AND hospital_id IS NULL
        """,
        {"hospital_id": hospital_id, "user_id": user_id, "now": now},
    )
    return cursor.rowcount == 1


# --- the caller's own data, closing an account (issue #18 item 6) --------------

def list_sessions(conn, user_id):
    """Every login of the user, newest first, without the token hashes."""
    return conn.execute(
        """
        SELECT id, created_at, expires_at, revoked_at FROM api_tokens
        WHERE user_id = ? ORDER BY id DESC
        """,
        (user_id,),
    ).fetchall()


def deleted_at(conn, user_id):
    """When the account was closed (None: it was not, or there is no such user)."""
    row = conn.execute("SELECT deleted_at FROM users WHERE id = ?", (user_id,)).fetchone()
    return row["deleted_at"] if row else None


def count_other_active_admins(conn, user_id):
    return conn.execute(
        """
        SELECT count(*) AS n FROM users
        WHERE role = 'admin' AND status = 'active' AND deleted_at IS NULL AND id <> ?
        """,
        (user_id,),
    ).fetchone()["n"]


def anonymise_user(conn, user_id, *, email, name, password_hash, now):
    """Closing an account: the personal fields are overwritten, the password is one
    nobody knows, the account is inactive and detached from any hospital."""
    conn.execute(
        """
        UPDATE users
        SET name = :name, email = :email, phone = NULL, password_hash = :password_hash,
            status = 'inactive', hospital_id = NULL, email_notifications = FALSE,
            deleted_at = :now, updated_at = :now
        WHERE id = :id AND deleted_at IS NULL
        """,
        {"id": user_id, "name": name, "email": email, "password_hash": password_hash,
         "now": now},
    )
