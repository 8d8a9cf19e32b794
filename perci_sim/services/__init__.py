"""Use cases of the broker, one module per use case.

Each takes keyword-only arguments and a :class:`~perci_sim.services.context.BrokerContext`
(database, injected clock, broker key, settings, commit listener) and returns a
result the API renders.  Every state change is one transaction
(:mod:`perci_sim.services.unit_of_work`): events, projection, timers and webhook
deliveries commit together.  Example::

    ctx = BrokerContext(db=db, clock=SystemClock(), signer=signer, settings=settings)
    result = await issue_order(ctx=ctx, participant=authority, token=order_jws)
    result.order["deadline_at"], result.receipt
"""
