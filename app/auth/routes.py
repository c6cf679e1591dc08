"""/api/auth: register, login, logout, profile, change-password, email verification,
password reset, my-data, closing the account."""
from flask import current_app, request
from flask.views import MethodView
from flask_login import current_user, logout_user

from app.auth import account_tokens, privacy, schemas, service
from app.auth.guards import login_required
from app.auth.queries import get_user
from app.auth.session import start_cookie_session
from app.db import get_db
from app.extensions.api import Blueprint
from app.timeutil import to_iso, utcnow

blp = Blueprint("auth", __name__, url_prefix="/api/auth", description="Accounts and sessions")


@blp.route("/register")
class Register(MethodView):
    @blp.arguments(schemas.RegisterSchema)
    @blp.response(201, schemas.UserSchema)
    def post(self, data):
        """Create an account (role user or hospital-authority)

        Admins exist only through the `flask create-admin` command. A link to verify
        the email address is mailed to it (see `POST /api/auth/verify-email`).

        :raise 409: the email is taken.
        """
        return service.register(get_db(), now=utcnow(), config=current_app.config, **data)


@blp.route("/login")
class Login(MethodView):
    @blp.arguments(schemas.LoginSchema)
    @blp.response(200, schemas.LoginResultSchema)
    @blp.alt_response(401, description="Unknown email, wrong password or inactive account")
    @blp.alt_response(429, description="Too many failed attempts; see Retry-After")
    def post(self, data):
        """Log in: returns a bearer token and starts a cookie session

        The token (opaque, stored hashed) and the cookie session belong to one
        server-side login record, so they end together: on logout by either, after
        TOKEN_TTL_HOURS, and when the account stops being active. Cookie-authenticated
        POST/PUT/PATCH/DELETE requests must send the returned `csrfToken` in an
        `X-CSRF-Token` header; bearer requests need none. Failed logins are counted per
        email and per IP before the password is checked; past the limit the answer is
        429 with `Retry-After`.
        """
        login = service.login(
            get_db(), email=data["email"], password=data["password"],
            ip_address=request.remote_addr, now=utcnow(), config=current_app.config,
        )
        csrf_token = start_cookie_session(login.session_id)
        return {"token": login.token, "expires_at": to_iso(login.expires_at),
                "csrf_token": csrf_token, "user": login.user}


@blp.route("/logout")
class Logout(MethodView):
    @blp.response(204)
    @login_required
    def post(self):
        """End this login: its bearer token and its cookie session"""
        service.logout(get_db(), session_id=current_user.session_id, now=utcnow())
        logout_user()


@blp.route("/profile")
class Profile(MethodView):
    @blp.response(200, schemas.UserSchema)
    @login_required
    def get(self):
        """Read your own profile"""
        return get_user(get_db(), current_user.id)

    @blp.arguments(schemas.ProfileUpdateSchema)
    @blp.response(200, schemas.UserSchema)
    @login_required
    def put(self, data):
        """Edit your own name, phone and mail preference

        `emailNotifications: false` turns off non-essential mail (booking decisions,
        payment receipts, refunds, blood matches); mail about the account itself
        (verification, password reset, password changed) is always sent.
        """
        return service.update_profile(get_db(), current_user.id, data, utcnow())


@blp.route("/change-password")
class ChangePassword(MethodView):
    @blp.arguments(schemas.ChangePasswordSchema)
    @blp.response(204)
    @login_required
    def put(self, data):
        """Change your password; every other login (token and cookie session) ends"""
        service.change_password(
            get_db(), user_id=current_user.id, current_password=data["current_password"],
            new_password=data["new_password"], keep_session_id=current_user.session_id,
            bcrypt_rounds=current_app.config["BCRYPT_ROUNDS"], now=utcnow(),
            tz_name=current_app.config["TIMEZONE"],
        )


_INVALID_TOKEN_DOC = "The token is unknown, used or expired (one answer for all three)"


@blp.route("/verify-email")
class VerifyEmail(MethodView):
    @blp.arguments(schemas.VerifyEmailSchema)
    @blp.response(204)
    @blp.alt_response(400, description=_INVALID_TOKEN_DOC)
    def post(self, data):
        """Confirm your email address with the token mailed to it

        Needs no login: the token is the proof. It works once and expires after
        EMAIL_VERIFICATION_TTL_HOURS.
        """
        account_tokens.verify_email(get_db(), token=data["token"], now=utcnow())


@blp.route("/verify-email/resend")
class ResendVerification(MethodView):
    @blp.response(202)
    @blp.alt_response(409, description="The address is verified already")
    @blp.alt_response(429, description="Too many requests for this address or IP; see Retry-After")
    @login_required
    def post(self):
        """Mail a new verification link to your address

        Rate limited per address and per IP (ACCOUNT_MAIL_RATE_LIMIT).
        """
        account_tokens.resend_verification(
            get_db(), user_id=current_user.id, ip_address=request.remote_addr, now=utcnow(),
            config=current_app.config,
        )


@blp.route("/forgot-password")
class ForgotPassword(MethodView):
    @blp.arguments(schemas.ForgotPasswordSchema)
    @blp.response(202, schemas.ForgotPasswordAnswerSchema)
    @blp.alt_response(429, description="Too many requests for this address or IP; see Retry-After")
    def post(self, data):
        """Ask for a password reset link by mail

        The answer is the same, and takes about as long, whether or not an account
        uses the address. The link works once and expires after
        PASSWORD_RESET_TTL_MINUTES. Rate limited per address and per IP
        (ACCOUNT_MAIL_RATE_LIMIT).
        """
        account_tokens.request_password_reset(
            get_db(), email=data["email"], ip_address=request.remote_addr, now=utcnow(),
            config=current_app.config,
        )
        return {"message": account_tokens.FORGOT_PASSWORD_ANSWER}


@blp.route("/reset-password")
class ResetPassword(MethodView):
    @blp.arguments(schemas.ResetPasswordSchema)
    @blp.response(204)
    @blp.alt_response(400, description=_INVALID_TOKEN_DOC)
    def post(self, data):
        """Choose a new password with the token from the reset mail

        Every login of the account (bearer tokens and cookie sessions) ends, every
        other reset link stops working, the address counts as verified, and a notice
        is mailed. The token works once, also when sent twice at the same moment.
        """
        account_tokens.reset_password(
            get_db(), token=data["token"], new_password=data["new_password"], now=utcnow(),
            config=current_app.config,
        )


@blp.route("/my-data")
class MyData(MethodView):
    @blp.response(200, schemas.MyDataSchema)
    @login_required
    def get(self):
        """Download everything the platform holds about you

        Your profile, your bookings (with their personal fields and status history),
        payments and top-ups with their refunds, wallet balance and ledger,
        notifications, blood requests (with the donors who volunteered) and the
        requests you volunteered for, and your logins (never their tokens). Only ever
        your own data, whatever your role.
        """
        return privacy.my_data(get_db(), current_user, currency=current_app.config["CURRENCY"])


@blp.route("/account")
class Account(MethodView):
    @blp.arguments(schemas.AccountDeleteSchema)
    @blp.response(204)
    @blp.alt_response(409, description="Something still needs the account: a pending or "
                      "approved booking, a non-zero wallet, an unsettled payment, the last "
                      "active admin or a hospital's only authority")
    @login_required
    def delete(self, data):
        """Close your account (needs your password)

        The personal fields of your bookings and blood requests are overwritten, your
        name, email and phone are anonymised (the email becomes
        `deleted-<id>@invalid`, so the address can be registered again), the password
        stops working, every login ends and no more mail is sent. Bookings, payments,
        refunds and the wallet ledger keep their non-personal facts (amounts, dates,
        statuses) for the books. Recorded in the admin audit log. Wrong password: 422.
        """
        privacy.close_account(get_db(), current_user, password=data["password"],
                              ip_address=request.remote_addr, now=utcnow(),
                              config=current_app.config)
        logout_user()
