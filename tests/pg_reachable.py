"""``python -m tests.pg_reachable URL``: exit 0 if PostgreSQL answers at URL (scripts/test)."""
import sys

import psycopg


def main(url):
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as error:
        print(f"PostgreSQL unreachable: {str(error).strip()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
