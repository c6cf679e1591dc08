"""SQL for prices and payment policies (read by pricing, bookings and payments)."""


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
