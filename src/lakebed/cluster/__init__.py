"""A lakebed cluster on NATS JetStream: sharded, replicated collections that survive a
node's death (see docs/cluster.md).

JetStream carries every write (one stream per shard, replicated by its Raft groups);
lakebed nodes are replicas that apply their shards' streams in order into their own
embedded collections, each write stored with its stream sequence. Clients connect with
``lakebed.connect("lakebed+cluster://h1:8765,h2:8765,h3:8765")``.
"""

from lakebed.cluster._client import ClusterClient, ClusterCollection, ClusterHits
from lakebed.cluster._wire import shard_of

__all__ = ["ClusterClient", "ClusterCollection", "ClusterHits", "shard_of"]
