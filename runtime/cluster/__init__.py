"""``ladle serve --cluster``: the same HTTP API served by a Ray Serve cluster.

Two deployments make one Serve application (:mod:`.deploy`):

- the **ingress** (:mod:`.ingress`) runs ladle's own ASGI app
  (:func:`runtime.api.app.create_app`) with a runner factory whose runners are not
  processes but routes into the pool (:mod:`.forward`): requests are checked and
  rendered there exactly as ``ladle serve`` does, and only generation, embedding and
  tokenizing cross to
- the **model pool** (:mod:`.pool`), whose replicas each hold up to N models (Ray Serve
  model multiplexing, keyed by manifest digest and load options, :mod:`.wire`), each in
  ladle's own runner process; a replica finds an image on its node by digest or pulls
  it from the registry its name names (:mod:`.images`), and reports what it holds to
  the directory (:mod:`.directory`) that ``/api/ps`` reads.

Ray is imported only by these modules, and they only by ``ladle serve --cluster``.
"""
