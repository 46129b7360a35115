import { createContext } from 'preact';
import { useContext } from 'preact/hooks';

// {auth_required, key, can_write, lake, version} from GET /ui/api/session, or null.
export const SessionContext = createContext({ session: null, reload: () => {} });

export function useSession() {
  return useContext(SessionContext);
}
