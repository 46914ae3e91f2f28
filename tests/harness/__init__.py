"""Real-service test harness: PostgreSQL 15, SeaweedFS S3 (TLS), Traefik 3, Redis, Docker Engine.

One implementation for the tests, molecule, benchmarks and the local platform (./run.sh site).
"""

from .platform import LOCAL_PLATFORM_PORTS, Platform
from .process import ServiceError

__all__ = ["LOCAL_PLATFORM_PORTS", "Platform", "ServiceError"]
