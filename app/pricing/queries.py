"""SQL for prices and payment policies (read by pricing, bookings and payments)."""
from app.resources import TYPE_ORDER_SQL


def get_active_price(conn, hospital_id, resource_type):
    return conn.execute(
        """
        SELECT * FROM hospital_pricing
        WHERE hospital_id = ? AND resource_type = ? AND effective_to IS NULL
        """,
        (hospital_id, resource_type),
    ).fetchone()


def get_payment_policy(conn, hospital_id, config):
    """The hospital's payment policy, or the documented default from configuration."""
    row = conn.execute(
        """
        SELECT platform_fee_bp, cancellation_window_hours, refund_inside_window_bp
        FROM payment_policies WHERE hospital_id = ?
        """,
        (hospital_id,),
    ).fetchone()
    if row:
        return {**row, "is_default": False}
    return {
        "platform_fee_bp": int(config["PLATFORM_FEE_BP"]),
        "cancellation_window_hours": int(config["CANCELLATION_WINDOW_HOURS"]),
        "refund_inside_window_bp": int(config["REFUND_INSIDE_WINDOW_BP"]),
        "is_default": True,
    }


def list_active_prices(conn, hospital_id):
    return conn.execute(
        f"""
        SELECT * FROM hospital_pricing
        WHERE hospital_id = ? AND effective_to IS NULL
        ORDER BY {TYPE_ORDER_SQL}
        """,
        (hospital_id,),
    ).fetchall()


def close_active_price(conn, hospital_id, resource_type, now):
    """End the active price (if any) at ``now``; the row itself stays as history."""
    conn.execute(
        """
        UPDATE hospital_pricing SET effective_to = :now
        WHERE hospital_id = :hospital_id AND resource_type = :resource_type
          AND effective_to IS NULL
        """,
        {"now": now, "hospital_id": hospital_id, "resource_type": resource_type},
    )


def insert_price(conn, *, hospital_id, resource_type, base_price_minor, price_per_hour_minor,
                 price_per_day_minor, emergency_multiplier_bp, currency, created_by, now):
    """A new active price from ``now`` (close the previous one first)."""
    return conn.execute(
        """
        INSERT INTO hospital_pricing (hospital_id, resource_type, base_price_minor,
            price_per_hour_minor, price_per_day_minor, emergency_multiplier_bp, currency,
            effective_from, created_by, created_at)
        VALUES (:hospital_id, :resource_type, :base_price_minor, :price_per_hour_minor,
            :price_per_day_minor, :emergency_multiplier_bp, :currency, :now, :created_by, :now)
        RETURNING *
        """,
        {"hospital_id": hospital_id, "resource_type": resource_type,
         "base_price_minor": base_price_minor, "price_per_hour_minor": price_per_hour_minor,
         "price_per_day_minor": price_per_day_minor,
         "emergency_multiplier_bp": emergency_multiplier_bp, "currency": currency,
         "created_by": created_by, "now": now},
    ).fetchone()


def list_price_history(conn, hospital_id, *, resource_type, limit, offset):
    """Every price the hospital has had, newest first."""
    return conn.execute(
        """
        SELECT * FROM hospital_pricing
        WHERE hospital_id = :hospital_id
          AND (:resource_type IS NULL OR resource_type = :resource_type)
        ORDER BY effective_from DESC, id DESC
        LIMIT :limit OFFSET :offset
        """,
        {"hospital_id": hospital_id, "resource_type": resource_type,
         "limit": limit, "offset": offset},
    ).fetchall()


def count_price_history(conn, hospital_id, *, resource_type):
    return conn.execute(
        """
        SELECT count(*) AS n FROM hospital_pricing
        WHERE hospital_id = :hospital_id
          AND (:resource_type IS NULL OR resource_type = :resource_type)
        """,
        {"hospital_id": hospital_id, "resource_type": resource_type},
    ).fetchone()["n"]


def upsert_payment_policy(conn, hospital_id, *, platform_fee_bp, cancellation_window_hours,
                          refund_inside_window_bp, updated_by, now):
    conn.execute(
        """
        INSERT INTO payment_policies (hospital_id, platform_fee_bp, cancellation_window_hours,
                                      refund_inside_window_bp, updated_by, updated_at)
        VALUES (:hospital_id, :platform_fee_bp, :cancellation_window_hours,
                :refund_inside_window_bp, :updated_by, :now)
        ON CONFLICT (hospital_id) DO UPDATE SET
            platform_fee_bp = excluded.platform_fee_bp,
            cancellation_window_hours = excluded.cancellation_window_hours,
            refund_inside_window_bp = excluded.refund_inside_window_bp,
            updated_by = excluded.updated_by, updated_at = excluded.updated_at
        """,
        {"hospital_id": hospital_id, "platform_fee_bp": platform_fee_bp,
         "cancellation_window_hours": cancellation_window_hours,
         "refund_inside_window_bp": refund_inside_window_bp,
         "updated_by": updated_by, "now": now},
    )
