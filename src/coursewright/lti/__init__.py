"""LTI 1.3 tool: platforms launch our licensed courses, deep-link them, and get grades.

Design note
-----------
- **pylti1p3, not django-lti.** ARCHITECTURE.md named django-lti (on pylti1p3). Its 0.10
  models do not fit ours: the tool's private keys are a plain ``TextField`` (ours are
  sealed under the master key, like the license-signing keys), a registration belongs to
  no organisation and no license, and ``LtiUser``/``LtiMembership`` store the learner's
  name, e-mail and picture from every launch and roster — exactly what we must not keep.
  So we use pylti1p3 2.0 directly, with our own tool configuration (``launch._ToolConf``
  built from a ``PlatformRegistration``), and without its launch-data storage: the
  library checks the signature (PyJWT, RS256 only), the registration, the deployment and
  the message's required claims; this app adds what it lacks — state and nonce used
  once (``launch``), RS256 enforced before any key is chosen, ``aud``/``azp``/``iat``
  checks, key sets fetched through the outbound guard — and builds deep-linking
  responses and AGS calls itself, signed with ``lti.keys`` (pylti1p3's HTTP calls would
  go around ``coursewright.netguard``).
- **Licensed like dispatch.** Each registration names a delivery ``License``; a learner
  launch goes through ``delivery.gatekeeper.launch_for_license`` — every Gatekeeper rule
  (status, expiry, courses, production deployment, caps, resume) and its launch event —
  and then plays the Gatekeeper's own course page for the launch session, whose runtime
  reports feed ``LaunchProgress`` like any launch (``views``).
- **No learner PII** (``launch``): the learner is a pseudonym; the ``sub`` is kept sealed
  only while a grade may still be sent (``grades``, ``privacy``).

Modules: ``models``, ``launch`` (login and id_token), ``views`` (HTTP), ``grades`` (AGS),
``keys`` (the tool's RSA keys), ``actions`` (registrations), ``api``, ``privacy``,
``tasks``.
"""
