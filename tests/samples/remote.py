"""Path arguments of the remote checks' routes: an enrolled agent's asset, one of its checks,
the agent itself, and a host key waiting for approval."""

from __future__ import annotations


def provide(world, side):
    from remote import agent_protocol, agents, health, hostkey_approval, ingest, ssh_settings
    from remote.models import HostKey

    council = world.council_a if side == "a" else world.council_b
    key = agents.create_enrollment_key(council, actor=None)
    body = agent_protocol.EnrollIn.model_validate({
        "enrollment_key": key, "hostname": f"sample-srv-{side}", "os": "Debian GNU/Linux 12",
        "inventory": {"hostname": f"sample-srv-{side}", "os_name": "Linux", "serial": f"SN-{side}"}})
    agent, _token = ingest.enroll(body)
    asset = agent.asset
    check = next(c for c in health.checks_of(asset) if c.kind == "cpu")
    ssh_settings.save_ssh_settings(asset, {"host": "192.0.2.10", "port": 22, "username": "monitor",
                                           "generate_key": True}, actor=None)
    from remote.hostkeys import HostKey as SshHostKey

    offered = SshHostKey.from_openssh(
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDD5sOoxcRSJzkGgVPGvdMLGmRqqq3Xt+D2bmX+2Xsof")
    row, _new = hostkey_approval.record_offered_key(ssh_settings.ssh_settings_of(asset), offered, changed=False,
                                                    now=agent.enrolled_at)
    from extensions import db

    db.session.commit()
    assert isinstance(row, HostKey)
    return {"asset_id": asset.id, "check_id": check.id, "agent_id": agent.id, "key_id": row.id}
