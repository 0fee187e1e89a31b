"""GraphQL generated from the live collections: the schema builder, its resolvers, limits and engine.

Reads the catalogue (as :mod:`jsonserve.openapi` does) and resolves through the Service with the
caller's Principal; the transport (``POST``/``GET /graphql``, GraphiQL) is :mod:`jsonserve.web.graphql`.
"""

from jsonserve.gql.engine import GraphQL, GraphQLOptions, Outcome, Prepared
from jsonserve.gql.limits import GraphQLLimits

__all__ = ["GraphQL", "GraphQLLimits", "GraphQLOptions", "Outcome", "Prepared"]
