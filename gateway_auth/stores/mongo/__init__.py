"""The production store: MongoDB through pymongo's async API (``AsyncMongoClient``)."""

from __future__ import annotations

from gateway_auth.stores.mongo.clients import MongoClients
from gateway_auth.stores.mongo.deletions import MongoDeletions
from gateway_auth.stores.mongo.factors import MongoFactors
from gateway_auth.stores.mongo.identities import MongoIdentities
from gateway_auth.stores.mongo.tokens import MongoAccountTokens
from gateway_auth.stores.mongo.transfer import MongoTransfer


class MongoStore(
    MongoClients,
    MongoAccountTokens,
    MongoFactors,
    MongoIdentities,
    MongoDeletions,
    MongoTransfer,
):
    """Every store protocol over one MongoDB database."""


__all__ = ["MongoStore"]
